// Package reaper tests the library's process-wide reaper (StartReaper) in a
// test binary of its own: once it runs, it is the only waiter for children.
package reaper

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/internal/testutil"
	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func init() { berth.Init() }

// rootfs is one busybox root shared by the tests' bundles. It is made
// before the reaper starts: making it runs busybox through os/exec, whose
// wait would lose the exit to the reaper.
var rootfs string

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		dir, err := os.MkdirTemp("", "reaper-rootfs")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		rootfs = dir
		if err := busybox.MakeRootfs(rootfs); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		// Reachable by user-namespaced containers, with a mount point for
		// their volume.
		if err := os.Chmod(rootfs, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := os.Mkdir(rootfs+"/vol", 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := berth.StartReaper(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(rootfs)
	os.Exit(code)
}

func setup(t *testing.T, opts ...spec.Option) (*berth.Runtime, string) {
	t.Helper()
	testutil.RequireRoot(t, "runs real containers")
	rt, err := berth.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bundle := t.TempDir()
	if err := busybox.WriteSpec(bundle, append([]spec.Option{spec.WithRootPath(rootfs)}, opts...)...); err != nil {
		t.Fatal(err)
	}
	return rt, bundle
}

// TestReaperRoutesExits runs containers that exit at once, in parallel,
// many times: every exit code must reach its owner, through Wait and
// through OnExit, with none lost to the reaper.
func TestReaperRoutesExits(t *testing.T) {
	rt, bundle := setup(t)
	ctx := context.Background()
	const n = 30
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("fast-%d", i)
			s := spec.New(spec.WithRootPath(rootfs), spec.WithArgs("sh", "-c", "exit "+strconv.Itoa(i)))
			got := make(chan berth.ExitStatus, 1)
			c, err := rt.Run(ctx, id, berth.CreateOpts{Bundle: bundle, Spec: s,
				OnExit: func(es berth.ExitStatus) { got <- es }})
			if err != nil {
				t.Error(err)
				return
			}
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			es, err := c.Wait(wctx)
			if err != nil || es.Code != i {
				t.Errorf("%s: wait %+v %v, want code %d", id, es, err, i)
			}
			select {
			case cb := <-got:
				if cb.Code != i {
					t.Errorf("%s: OnExit code %d", id, cb.Code)
				}
			case <-wctx.Done():
				t.Errorf("%s: OnExit never called", id)
			}
			if err := c.Delete(ctx, false); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

// TestReaperExec: exec'd processes exit through the reaper too.
func TestReaperExec(t *testing.T) {
	rt, bundle := setup(t, spec.WithArgs("sleep", "100"))
	ctx := context.Background()
	c, err := rt.Run(ctx, "execs", berth.CreateOpts{Bundle: bundle})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Delete(ctx, true)
	for i := range 5 {
		p, err := c.Exec(ctx, &specs.Process{Args: []string{"sh", "-c", "exit " + strconv.Itoa(i+10)}, Cwd: "/", Env: []string{"PATH=/bin"}}, berth.ExecOpts{})
		if err != nil {
			t.Fatal(err)
		}
		es, err := p.Wait(ctx)
		if err != nil || es.Code != i+10 {
			t.Fatalf("exec %d: %+v %v", i, es, err)
		}
	}
	if err := c.Signal(syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if es, err := c.Wait(ctx); err != nil || es.Code != 137 {
		t.Fatalf("init: %+v %v", es, err)
	}
}

// TestReaperCollectsOrphans: a container sharing the host pid namespace
// leaves a background child behind when its init exits; the child is
// reparented to this process (a subreaper) and must not stay a zombie.
func TestReaperCollectsOrphans(t *testing.T) {
	rt, bundle := setup(t, spec.WithoutNamespace(specs.PIDNamespace),
		spec.WithArgs("sh", "-c", "sleep 0.2 & echo $! > /tmp/orphan.pid; exit 0"),
		spec.WithReadonlyRootfs(false))
	ctx := context.Background()
	c, err := rt.Run(ctx, "orphans", berth.CreateOpts{Bundle: bundle})
	if err != nil {
		t.Fatal(err)
	}
	if es, err := c.Wait(ctx); err != nil || es.Code != 0 {
		t.Fatalf("init: %+v %v", es, err)
	}
	data, err := os.ReadFile(rootfs + "/tmp/orphan.pid")
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(data))
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := os.Stat("/proc/" + pid)
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			st, _ := os.ReadFile("/proc/" + pid + "/stat")
			t.Fatalf("orphan %s still present: %s", pid, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Deleting with the orphan already reaped works.
	if err := c.Delete(ctx, false); err != nil {
		t.Fatal(err)
	}
}

// TestReaperJoinedUserNamespace creates containers that join a running
// container's user namespace by path (as a pod's containers join its
// sandbox's) and have an idmapped volume, in parallel: converting such a
// spec, libcontainer spawns and waits for children that read the
// namespace's mappings or hold the mount's namespace, and the reaper must
// not take their exits ("waitid: no child processes", seen once in two
// runs of critest's user namespace tests). The window is narrow (between
// the mapping reader's pidfd_open and its waitid): this test runs the path
// under the reaper, but did not hit the race without the fix in 3 runs.
func TestReaperJoinedUserNamespace(t *testing.T) {
	rt, _ := setup(t)
	vol := t.TempDir()
	for _, d := range []string{filepath.Dir(vol), vol} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mapping := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	ctx := context.Background()
	sandbox, err := rt.Run(ctx, fmt.Sprintf("userns-sandbox-%d", os.Getpid()), berth.CreateOpts{Bundle: t.TempDir(), Spec: spec.New(
		spec.WithRootPath(rootfs), spec.WithArgs("sleep", "600"), func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings, s.Linux.GIDMappings = mapping, mapping
		})})
	if err != nil {
		t.Fatal(err)
	}
	defer sandbox.Delete(ctx, true)
	pid, err := sandbox.Pid()
	if err != nil {
		t.Fatal(err)
	}
	joined := func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace,
			Path: fmt.Sprintf("/proc/%d/ns/user", pid)})
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/vol", Type: "bind", Source: vol,
			Options: []string{"rbind"}, UIDMappings: mapping, GIDMappings: mapping})
	}
	const rounds, n = 3, 8
	for round := range rounds {
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("joined-%d-%d", round, i)
				s := spec.New(spec.WithRootPath(rootfs), spec.WithArgs("stat", "-c", "%u", "/vol"), joined)
				c, err := rt.Run(ctx, id, berth.CreateOpts{Bundle: t.TempDir(), Spec: s})
				if err != nil {
					t.Errorf("%s: %v", id, err)
					return
				}
				defer c.Delete(ctx, true)
				if es, err := c.Wait(ctx); err != nil || es.Code != 0 {
					t.Errorf("%s: exit %+v, %v", id, es, err)
				}
			}()
		}
		wg.Wait()
	}
}
