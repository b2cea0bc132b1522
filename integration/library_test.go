package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-oci/berth/internal/testutil"
	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// newRuntime returns a library Runtime with a temporary root, and a cleanup
// that force-deletes whatever the test left in it.
func newRuntime(t *testing.T) *berth.Runtime {
	t.Helper()
	testutil.RequireRoot(t, "runs real containers")
	rt, err := berth.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		states, _ := rt.List()
		for _, st := range states {
			_ = rt.Delete(context.Background(), st.ID, true)
		}
	})
	return rt
}

// outputFile returns a file to use as a container's stdout.
func outputFile(t *testing.T) *os.File {
	t.Helper()
	return tempFile(t)
}

// TestLibraryParallel runs 20 containers at once through one Runtime.
func TestLibraryParallel(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	bundle := newBundle(t, spec.WithArgs("sh", "-c", `echo "$ID"; exit $CODE`))
	ctx := context.Background()
	// libcontainer joins each container's mount namespace on a thread it
	// abandons; the process's own (the main thread's) must stay the host's.
	mntns, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if now, _ := os.Readlink("/proc/self/ns/mnt"); now != mntns {
			t.Errorf("the test process's main thread is in mount namespace %s, not %s", now, mntns)
		}
	}()
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("%s-%02d", uniqueID(t), i)
			s := spec.New(spec.WithRootPath("rootfs"), spec.WithArgs("sh", "-c", `echo "$ID"; exit $CODE`),
				spec.WithEnv("ID="+id, fmt.Sprintf("CODE=%d", i)))
			out := outputFile(t)
			c, err := rt.Run(ctx, id, berth.CreateOpts{Bundle: bundle, Spec: s, IO: berth.IO{Stdout: out, Stderr: out}})
			if err != nil {
				errs <- err
				return
			}
			es, err := c.Wait(ctx)
			if err != nil {
				errs <- err
				return
			}
			if err := c.Delete(ctx, false); err != nil {
				errs <- err
				return
			}
			if es.Code != i {
				errs <- fmt.Errorf("%s exited %d, want %d", id, es.Code, i)
			}
			if got := strings.TrimSpace(readBack(t, out)); got != id {
				errs <- fmt.Errorf("%s printed %q", id, got)
			}
			assertGone(t, rt.Root(), id, bundle, 0)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if states, _ := rt.List(); len(states) != 0 {
		t.Errorf("%d containers left", len(states))
	}
}

// runSleeper starts a long-running container through the library.
func runSleeper(t *testing.T, rt *berth.Runtime, opts ...spec.Option) (*berth.Container, string) {
	t.Helper()
	bundle := newBundle(t, append([]spec.Option{spec.WithArgs("sleep", "1000")}, opts...)...)
	c, err := rt.Run(context.Background(), uniqueID(t), berth.CreateOpts{Bundle: bundle})
	if err != nil {
		t.Fatal(err)
	}
	return c, bundle
}

func TestLibraryExec(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	c, bundle := runSleeper(t, rt)
	ctx := context.Background()
	tests := []struct {
		name   string
		args   []string
		code   int
		output string
	}{
		{"output", []string{"sh", "-c", "echo hi from $(hostname)"}, 0, "hi from berth"},
		{"exit code", []string{"sh", "-c", "exit 7"}, 7, ""},
		{"same pid namespace", []string{"sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"}, 0, "sleep 1000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := outputFile(t)
			p, err := c.Exec(ctx, &specs.Process{Args: tc.args, Cwd: "/", Env: []string{"PATH=/bin"}},
				berth.ExecOpts{IO: berth.IO{Stdout: out, Stderr: out}})
			if err != nil {
				t.Fatal(err)
			}
			if p.Pid() <= 0 {
				t.Fatalf("pid %d", p.Pid())
			}
			es, err := p.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if es.Code != tc.code {
				t.Fatalf("exit %d, want %d", es.Code, tc.code)
			}
			if got := strings.TrimSpace(readBack(t, out)); got != tc.output {
				t.Fatalf("output %q, want %q", got, tc.output)
			}
		})
	}
	_, err := c.Exec(ctx, &specs.Process{Cwd: "/"}, berth.ExecOpts{})
	if !errors.Is(err, berth.ErrInvalid) || !strings.Contains(err.Error(), "process.args") {
		t.Fatalf("exec without args: %v", err)
	}
	pid, _ := c.Pid()
	if err := c.Delete(ctx, true); err != nil {
		t.Fatal(err)
	}
	assertGone(t, rt.Root(), c.ID(), bundle, pid)
	_, err = c.Exec(ctx, &specs.Process{Args: []string{"true"}, Cwd: "/"}, berth.ExecOpts{})
	if err == nil {
		t.Fatal("exec into a deleted container succeeded")
	}
}

func TestLibraryPauseResumeProcessesStats(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	c, bundle := runSleeper(t, rt, spec.WithMemoryLimit(32<<20))
	ctx := context.Background()
	pid, err := c.Pid()
	if err != nil {
		t.Fatal(err)
	}
	pids, err := c.Processes()
	if err != nil || !slices.Contains(pids, pid) {
		t.Fatalf("processes %v (%v) lack init %d", pids, err, pid)
	}
	if err := c.Pause(); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.State(); st.Status != berth.Paused {
		t.Fatalf("after pause: %s", st.Status)
	}
	if err := c.Pause(); !errors.Is(err, berth.ErrWrongState) {
		t.Fatalf("second pause: %v", err)
	}
	if err := c.Delete(ctx, false); !errors.Is(err, berth.ErrWrongState) {
		t.Fatalf("delete paused without force: %v", err)
	}
	if err := c.Resume(); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.State(); st.Status != berth.Running {
		t.Fatalf("after resume: %s", st.Status)
	}
	stats, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats.MemoryStats.Usage.Usage == 0 || stats.MemoryStats.Usage.Limit != 32<<20 || stats.PidsStats.Current < 1 {
		t.Fatalf("stats: memory %+v pids %+v", stats.MemoryStats.Usage, stats.PidsStats)
	}
	// A paused container is deleted with force.
	if err := c.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, true); err != nil {
		t.Fatal(err)
	}
	assertGone(t, rt.Root(), c.ID(), bundle, pid)
}

func TestLibraryUpdate(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	c, _ := runSleeper(t, rt, spec.WithMemoryLimit(64<<20), spec.WithPidsLimit(50))
	pid, _ := c.Pid()
	mem, pids := int64(128<<20), int64(77)
	if err := c.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem}}); err != nil {
		t.Fatal(err)
	}
	if got := cgroupFile(t, pid, "memory", "memory.limit_in_bytes"); got != fmt.Sprint(mem) {
		t.Fatalf("memory limit %s after update", got)
	}
	if got := cgroupFile(t, pid, "pids", "pids.max"); got != "50" {
		t.Fatalf("pids limit %s changed by a memory-only update", got)
	}
	if err := c.Update(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &pids}}); err != nil {
		t.Fatal(err)
	}
	if got := cgroupFile(t, pid, "pids", "pids.max"); got != "77" {
		t.Fatalf("pids limit %s after update", got)
	}
	if got := cgroupFile(t, pid, "memory", "memory.limit_in_bytes"); got != fmt.Sprint(mem) {
		t.Fatalf("memory limit %s lost by a pids-only update", got)
	}
	if err := c.Update(nil); !errors.Is(err, berth.ErrInvalid) {
		t.Fatalf("update(nil): %v", err)
	}
}

// TestLibraryUpdateThenExec is the sequence of an in-place pod resize
// followed by an exec probe, on one Container object: each update is
// followed by an exec, which must run (libcontainer kept the update's
// SkipDevices in memory and refused every later exec).
func TestLibraryUpdateThenExec(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	c, bundle := runSleeper(t, rt, spec.WithMemoryLimit(64<<20))
	ctx := context.Background()
	pid, _ := c.Pid()
	for i, mem := range []int64{96 << 20, 128 << 20} {
		if err := c.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem}}); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		out := outputFile(t)
		p, err := c.Exec(ctx, &specs.Process{Args: []string{"sh", "-c", "echo ok; ls /dev/null"}, Cwd: "/", Env: []string{"PATH=/bin"}},
			berth.ExecOpts{IO: berth.IO{Stdout: out, Stderr: out}})
		if err != nil {
			t.Fatalf("exec after update %d: %v", i, err)
		}
		if es, err := p.Wait(ctx); err != nil || es.Code != 0 {
			t.Fatalf("exec after update %d: %+v %v: %s", i, es, err, readBack(t, out))
		}
		if got := strings.TrimSpace(readBack(t, out)); got != "ok\n/dev/null" {
			t.Fatalf("exec after update %d printed %q", i, got)
		}
		if got := cgroupFile(t, pid, "memory", "memory.limit_in_bytes"); got != fmt.Sprint(mem) {
			t.Fatalf("memory limit %s after update %d", got, i)
		}
	}
	if err := c.Delete(ctx, true); err != nil {
		t.Fatal(err)
	}
	assertGone(t, rt.Root(), c.ID(), bundle, pid)
}

// TestLibraryOOM runs a memory hog under a 16 MiB limit and expects an
// OOM event (runtime.OOMWatch, as the shim and berth events use) and a
// SIGKILL exit.
func TestLibraryOOM(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	bundle := newBundle(t, spec.WithMemoryLimit(16<<20),
		spec.WithArgs("sh", "-c", `sleep 0.3; x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done`))
	ctx := context.Background()
	c, err := rt.Run(ctx, uniqueID(t), berth.CreateOpts{Bundle: bundle})
	if err != nil {
		t.Fatal(err)
	}
	oom, err := c.WatchOOM()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-oom.C:
	case <-time.After(30 * time.Second):
		t.Fatal("no OOM event within 30s")
	}
	es, err := c.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if es.Signal != syscall.SIGKILL || es.Code != 137 {
		t.Fatalf("exit %+v, want SIGKILL/137", es)
	}
	// The one kill was reported once: the watch ends without another.
	oom.Finish(time.Second)
	for range oom.C {
		t.Fatal("a second OOM event for one kill")
	}
	if err := c.Delete(ctx, false); err != nil {
		t.Fatal(err)
	}
}

// TestLibraryLoadedWait: a container loaded again in the process that
// created it (by another Runtime on the same root, as by Load) shares the
// creator's ownership of its init: its Wait gives the real exit status (it
// gave -1), and its Delete reaps the init (it left a zombie until the first
// object's Wait).
func TestLibraryLoadedWait(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	c, _ := runSleeper(t, rt)
	pid, err := c.Pid()
	if err != nil {
		t.Fatal(err)
	}
	other, err := berth.New(rt.Root())
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := other.Load(c.ID())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan berth.ExitStatus, 1)
	go func() {
		es, _ := loaded.Wait(context.Background())
		done <- es
	}()
	select {
	case <-done:
		t.Fatal("wait returned while the container runs")
	case <-time.After(200 * time.Millisecond):
	}
	if err := loaded.Signal(syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	select {
	case es := <-done:
		if es.Code != 137 {
			t.Fatalf("loaded wait code %d, want 137 (the creator's status)", es.Code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("loaded wait did not see the exit")
	}
	if err := loaded.Delete(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		t.Fatalf("init %d left (a zombie) after the loaded container's delete", pid)
	}
	// The first object agrees.
	if es, err := c.Wait(context.Background()); err != nil || es.Code != 137 {
		t.Fatalf("owner wait: %+v %v", es, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c2, _ := runSleeper(t, rt)
	if _, err := c2.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait with expired context: %v", err)
	}
}

// TestLibraryConsoleSocket runs a container with a terminal and reads its
// output from the pty master received over the console socket.
func TestLibraryConsoleSocket(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	bundle := newBundle(t, spec.WithTerminal(true), spec.WithArgs("sh", "-c", "tty; [ -t 0 ] && echo stdin-is-a-tty"))
	pair, err := berth.NewConsolePair()
	if err != nil {
		t.Fatal(err)
	}
	defer pair.Close()
	ctx := context.Background()
	c, err := rt.Run(ctx, uniqueID(t), berth.CreateOpts{Bundle: bundle, IO: berth.IO{ConsoleSocket: pair.Remote}})
	if err != nil {
		t.Fatal(err)
	}
	master, err := pair.Receive()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	es, err := c.Wait(ctx)
	if err != nil || es.Code != 0 {
		t.Fatalf("exit %+v %v", es, err)
	}
	out, _ := io.ReadAll(master) // ends with EIO once the pty's other side is gone
	got := strings.ReplaceAll(string(out), "\r", "")
	if !strings.Contains(got, "/dev/pts/0") || !strings.Contains(got, "stdin-is-a-tty") {
		t.Fatalf("terminal output %q", got)
	}
	if err := c.Delete(ctx, false); err != nil {
		t.Fatal(err)
	}
	// Without a console socket, a terminal spec is refused up front.
	_, err = rt.Run(ctx, uniqueID(t), berth.CreateOpts{Bundle: bundle})
	if !errors.Is(err, berth.ErrInvalid) {
		t.Fatalf("terminal without socket: %v", err)
	}
}

// TestLibraryErrors checks the typed errors.
func TestLibraryErrors(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	ctx := context.Background()
	if _, err := rt.Load("nope"); !errors.Is(err, berth.ErrNotFound) {
		t.Errorf("load missing: %v", err)
	}
	if _, err := rt.Create(ctx, "x", berth.CreateOpts{Bundle: "relative/bundle"}); !errors.Is(err, berth.ErrInvalid) {
		t.Errorf("relative bundle: %v", err)
	}
	if _, err := berth.New("relative/root"); !errors.Is(err, berth.ErrInvalid) {
		t.Errorf("relative root: %v", err)
	}
	c, _ := runSleeper(t, rt)
	if _, err := rt.Create(ctx, c.ID(), berth.CreateOpts{Bundle: newBundle(t)}); !errors.Is(err, berth.ErrExists) {
		t.Errorf("duplicate: %v", err)
	}
	if err := c.Start(ctx); !errors.Is(err, berth.ErrWrongState) {
		t.Errorf("start running: %v", err)
	}
	if err := c.Delete(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := c.Signal(syscall.SIGTERM, false); err == nil {
		t.Errorf("signal deleted container succeeded")
	}
}

// TestLibraryExecWithoutEnv: Exec takes the whole process; one without an
// env (so without PATH) and a command to look up is refused before
// anything runs, saying so (it failed inside the container: "sh":
// executable file not found in $PATH); with an absolute path it runs.
func TestLibraryExecWithoutEnv(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	c, _ := runSleeper(t, rt)
	_, err := c.Exec(context.Background(), &specs.Process{Args: []string{"sh", "-c", "true"}, Cwd: "/"}, berth.ExecOpts{})
	if !errors.Is(err, berth.ErrInvalid) || !strings.Contains(err.Error(), "process.env") || !strings.Contains(err.Error(), "PATH") {
		t.Fatalf("exec of sh without env: %v; want ErrInvalid naming process.env and PATH", err)
	}
	p, err := c.Exec(context.Background(), &specs.Process{Args: []string{"/bin/sh", "-c", "exit 3"}, Cwd: "/"}, berth.ExecOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if es, err := p.Wait(context.Background()); err != nil || es.Code != 3 {
		t.Fatalf("exec of /bin/sh without env: %+v %v, want exit 3", es, err)
	}
}

// TestLibraryPipeIO: a container's output captured into Go writers, and
// its stdin fed from a Go reader, through runtime.PipeIO (it took about 25
// lines of pipes and goroutines before); the same writer for stdout and
// stderr keeps their order; an exec's output is captured the same way.
func TestLibraryPipeIO(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t)
	var out, errOut bytes.Buffer
	pio, err := berth.NewPipeIO(strings.NewReader("from stdin\n"), &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	bundle := newBundle(t, spec.WithArgs("sh", "-c", "cat; echo to stderr >&2; exit 5"))
	c, err := rt.Run(context.Background(), uniqueID(t), berth.CreateOpts{Bundle: bundle, IO: pio.IO})
	if err != nil {
		t.Fatal(err)
	}
	es, err := c.Wait(context.Background())
	if err != nil || es.Code != 5 {
		t.Fatalf("wait: %+v %v", es, err)
	}
	if err := pio.Wait(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "from stdin\n" || errOut.String() != "to stderr\n" {
		t.Fatalf("stdout %q, stderr %q", out.String(), errOut.String())
	}
	if err := c.Delete(context.Background(), false); err != nil {
		t.Fatal(err)
	}

	s, _ := runSleeper(t, rt)
	var both bytes.Buffer
	epio, err := berth.NewPipeIO(nil, &both, &both)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Exec(context.Background(), &specs.Process{Args: []string{"/bin/sh", "-c", "echo one; echo two >&2; echo three"}, Cwd: "/"},
		berth.ExecOpts{IO: epio.IO})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := epio.Wait(); err != nil || both.String() != "one\ntwo\nthree\n" {
		t.Fatalf("exec output %q, %v", both.String(), err)
	}
}
