// Package gorunc drives bin/berth only through containerd's go-runc, the
// client containerd's runc shim uses, with JSON logs as containerd sets them.
package gorunc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/internal/testutil"
	"github.com/berth-oci/berth/spec"
)

// client returns a go-runc client for bin/berth with a private root.
func client(t *testing.T) *runc.Runc {
	t.Helper()
	testutil.RequireRoot(t, "runs real containers")
	bin := testutil.Binary(t, "BERTH_BINARY", "")
	dir := t.TempDir()
	r := &runc.Runc{
		Command:   bin,
		Root:      filepath.Join(dir, "root"),
		Log:       filepath.Join(dir, "log.json"),
		LogFormat: runc.JSON,
	}
	t.Cleanup(func() {
		ctx := context.Background()
		list, _ := r.List(ctx)
		for _, c := range list {
			_ = r.Delete(ctx, c.ID, &runc.DeleteOpts{Force: true})
		}
	})
	return r
}

// uniqueID returns a container id no other test run shares: ids name
// cgroups, which parallel runs must not collide on.
func uniqueID(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), time.Now().UnixNano()%1e9)
}

func bundle(t *testing.T, opts ...spec.Option) string { return busybox.NewTestBundle(t, opts...) }

// pipeIO gives the container pipes, as containerd does, and collects stdout.
type pipeIO struct {
	runc.IO
	out bytes.Buffer
	wg  sync.WaitGroup
}

func newPipeIO(t *testing.T) *pipeIO {
	t.Helper()
	i, err := runc.NewPipeIO(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeIO{IO: i}
	p.wg.Add(1)
	go func() { defer p.wg.Done(); _, _ = io.Copy(&p.out, i.Stdout()) }()
	go func() { _, _ = io.Copy(io.Discard, i.Stderr()) }()
	t.Cleanup(func() { i.Close() })
	return p
}

// CloseAfterStart closes the child's pipe ends in this process, as go-runc
// expects of its IO (an embedded interface would hide the method).
func (p *pipeIO) CloseAfterStart() error {
	if c, ok := p.IO.(runc.StartCloser); ok {
		return c.CloseAfterStart()
	}
	return nil
}

// output waits for the stdout pipe to close and returns what came.
func (p *pipeIO) output() string {
	p.wg.Wait()
	return p.out.String()
}

func waitStatus(t *testing.T, r *runc.Runc, id, want string) *runc.Container {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := r.State(context.Background(), id)
		if err == nil && c.Status == want {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: %+v %v, want status %s", id, c, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCreateStartStateListKillDelete(t *testing.T) {
	t.Parallel()
	idC1 := uniqueID("c1")
	r, ctx := client(t), context.Background()
	b := bundle(t, spec.WithArgs("sh", "-c", "echo started; sleep 100"))
	pio := newPipeIO(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	if err := r.Create(ctx, idC1, b, &runc.CreateOpts{IO: pio, PidFile: pidFile}); err != nil {
		t.Fatal(err)
	}
	c := waitStatus(t, r, idC1, "created")
	if c.Bundle != b || c.Pid <= 0 {
		t.Fatalf("state after create: %+v", c)
	}
	if pid, err := runc.ReadPidFile(pidFile); err != nil || pid != c.Pid {
		t.Fatalf("pid file %d %v, state pid %d", pid, err, c.Pid)
	}
	if err := r.Start(ctx, idC1); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, r, idC1, "running")
	list, err := r.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != idC1 || list[0].Status != "running" {
		t.Fatalf("list %+v %v", list, err)
	}
	if err := r.Kill(ctx, idC1, int(syscall.SIGKILL), &runc.KillOpts{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, r, idC1, "stopped")
	if err := r.Delete(ctx, idC1, &runc.DeleteOpts{}); err != nil {
		t.Fatal(err)
	}
	if got := pio.output(); got != "started\n" {
		t.Fatalf("stdout %q", got)
	}
	if _, err := r.State(ctx, idC1); err == nil || !strings.Contains(err.Error(), "container does not exist") {
		t.Fatalf("state after delete: %v", err)
	}
}

func TestRunExitStatus(t *testing.T) {
	t.Parallel()
	idRun1 := uniqueID("run1")
	r, ctx := client(t), context.Background()
	b := bundle(t, spec.WithArgs("sh", "-c", "echo ran; exit 3"))
	pio := newPipeIO(t)
	status, err := r.Run(ctx, idRun1, b, &runc.CreateOpts{IO: pio})
	if status != 3 {
		t.Fatalf("run status %d (%v), want 3", status, err)
	}
	_ = pio.CloseAfterStart() // go-runc's Run leaves this to the caller
	if got := pio.output(); got != "ran\n" {
		t.Fatalf("stdout %q", got)
	}
}

func TestExec(t *testing.T) {
	t.Parallel()
	idEx := uniqueID("ex")
	r, ctx := client(t), context.Background()
	b := bundle(t, spec.WithArgs("sleep", "100"))
	if err := r.Create(ctx, idEx, b, &runc.CreateOpts{IO: newPipeIO(t)}); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, idEx); err != nil {
		t.Fatal(err)
	}
	pio := newPipeIO(t)
	proc := specs.Process{Args: []string{"sh", "-c", "echo from-exec; exit 4"}, Cwd: "/", Env: []string{"PATH=/bin"}}
	err := r.Exec(ctx, idEx, proc, &runc.ExecOpts{IO: pio})
	var ee *runc.ExitError
	if !asExitError(err, &ee) || ee.Status != 4 {
		t.Fatalf("exec error %v, want exit status 4", err)
	}
	if got := pio.output(); got != "from-exec\n" {
		t.Fatalf("exec stdout %q", got)
	}
}

func asExitError(err error, target **runc.ExitError) bool {
	for err != nil {
		if e, ok := err.(*runc.ExitError); ok {
			*target = e
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// TestExecTerminal execs with a terminal through a console socket, as
// containerd does for `ctr task exec -t`.
func TestExecTerminal(t *testing.T) {
	t.Parallel()
	idExtty := uniqueID("extty")
	r, ctx := client(t), context.Background()
	b := bundle(t, spec.WithArgs("sleep", "100"))
	if _, err := r.Run(ctx, idExtty, b, &runc.CreateOpts{IO: newPipeIO(t), Detach: true}); err != nil {
		t.Fatal(err)
	}
	sock, err := runc.NewTempConsoleSocket()
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	proc := specs.Process{Terminal: true, Args: []string{"sh", "-c", "tty; echo tty-done"}, Cwd: "/", Env: []string{"PATH=/bin"}}
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	if err := r.Exec(ctx, idExtty, proc, &runc.ExecOpts{ConsoleSocket: sock, Detach: true, PidFile: pidFile}); err != nil {
		t.Fatal(err)
	}
	master, err := sock.ReceiveMaster()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	out := readAll(master, "tty-done", 10*time.Second)
	if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "tty-done") {
		t.Fatalf("terminal output %q", out)
	}
	if pid, err := runc.ReadPidFile(pidFile); err != nil || pid <= 0 {
		t.Fatalf("exec pid file: %d %v", pid, err)
	}
}

func readAll(r io.Reader, until string, timeout time.Duration) string {
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 1024)
		for !strings.Contains(buf.String(), until) {
			n, err := r.Read(b)
			buf.Write(b[:n])
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(timeout):
	}
	return strings.ReplaceAll(buf.String(), "\r", "")
}

func TestPsPauseResumeStatsUpdateEvents(t *testing.T) {
	t.Parallel()
	idOps := uniqueID("ops")
	r, ctx := client(t), context.Background()
	b := bundle(t, spec.WithArgs("sleep", "100"), spec.WithMemoryLimit(64<<20))
	if _, err := r.Run(ctx, idOps, b, &runc.CreateOpts{IO: newPipeIO(t), Detach: true}); err != nil {
		t.Fatal(err)
	}
	c := waitStatus(t, r, idOps, "running")
	pids, err := r.Ps(ctx, idOps)
	if err != nil || len(pids) != 1 || pids[0] != c.Pid {
		t.Fatalf("ps %v %v, want [%d]", pids, err, c.Pid)
	}
	top, err := r.Top(ctx, idOps, "")
	if err != nil || len(top.Processes) != 1 {
		t.Fatalf("top %+v %v", top, err)
	}
	if err := r.Pause(ctx, idOps); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, r, idOps, "paused")
	if err := r.Resume(ctx, idOps); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, r, idOps, "running")

	stats, err := r.Stats(ctx, idOps)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Memory.Usage.Usage == 0 || stats.Memory.Usage.Limit != 64<<20 || stats.Pids.Current != 1 {
		t.Fatalf("stats: memory %+v pids %+v", stats.Memory.Usage, stats.Pids)
	}
	limit := int64(96 << 20)
	if err := r.Update(ctx, idOps, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}); err != nil {
		t.Fatal(err)
	}
	if stats, err := r.Stats(ctx, idOps); err != nil || stats.Memory.Usage.Limit != uint64(limit) {
		t.Fatalf("limit after update: %+v %v", stats.Memory.Usage, err)
	}

	// go-runc passes whole seconds.
	events, err := r.Events(ctx, idOps, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e := <-events
	if e == nil || e.Type != "stats" || e.ID != idOps || e.Stats == nil || e.Stats.Memory.Usage.Usage == 0 {
		t.Fatalf("first event %+v", e)
	}
	// The stream ends when the container's cgroup goes away.
	if err := r.Delete(ctx, idOps, &runc.DeleteOpts{Force: true}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("events stream did not end after delete")
		}
	}
}

func TestVersionAndFeatures(t *testing.T) {
	t.Parallel()
	r, ctx := client(t), context.Background()
	// go-runc parses only runc's own first line ("runc version ..."); for
	// berth the call succeeds and leaves the fields empty.
	if _, err := r.Version(ctx); err != nil {
		t.Fatal(err)
	}
	f, err := r.Features(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f.OCIVersionMax != specs.Version || f.Linux == nil || len(f.Linux.Namespaces) == 0 || f.Linux.Seccomp == nil || !*f.Linux.Seccomp.Enabled {
		t.Fatalf("features %+v", f)
	}
}

// TestErrorsSurface: go-runc reports berth's own error message, and the
// JSON log holds it as the last error entry (what containerd reads).
func TestErrorsSurface(t *testing.T) {
	t.Parallel()
	r, ctx := client(t), context.Background()
	b := bundle(t, spec.WithArgs("true"))
	err := r.Create(ctx, "../bad", b, &runc.CreateOpts{IO: newPipeIO(t)})
	if err == nil {
		t.Fatal("create with a bad id succeeded")
	}
	if err := r.Kill(ctx, "ghost", 9, nil); err == nil || !strings.Contains(err.Error(), "ghost: container does not exist") {
		t.Fatalf("kill ghost: %v", err)
	}
	data, err := os.ReadFile(r.Log)
	if err != nil {
		t.Fatal(err)
	}
	var last struct{ Level, Msg string }
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &e) == nil && e.Level == "error" {
			last = e
		}
	}
	if !strings.Contains(last.Msg, "ghost: container does not exist") {
		t.Fatalf("last error entry %+v", last)
	}
	if !strings.Contains(string(data), `container id \"../bad\" has '/'`) {
		t.Fatalf("log lacks the bad id error:\n%s", data)
	}
}

// TestRootlessOption: go-runc's Rootless option (what rootless containerd,
// nerdctl and BuildKit set) passes --rootless=true or false; berth takes
// both and runs the container (as root, the rootless cgroup manager only
// ignores cgroup permission errors).
func TestRootlessOption(t *testing.T) {
	t.Parallel()
	for _, rootless := range []bool{true, false} {
		r, ctx := client(t), context.Background()
		r.Rootless = &rootless
		b := bundle(t, spec.WithArgs("sh", "-c", "exit 4"))
		status, err := r.Run(ctx, uniqueID("rootless"), b, &runc.CreateOpts{})
		if status != 4 {
			t.Fatalf("Rootless %v: run status %d (%v), want 4", rootless, status, err)
		}
	}
}
