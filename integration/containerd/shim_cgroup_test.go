package containerd

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/integration/hoststate"
	"github.com/berth-oci/berth/internal/testutil"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// testShimCgroup: with the runc option ShimCgroup, the daemon serving the
// container is in that cgroup, as containerd's runc shim is (a real
// client's check, containerd's TestShimInCgroup: make the cgroup, run a
// container, find the shim in it): a daemon of its own (per-container),
// and, while the namespace's shared daemon serves another container, the
// daemon of the namespace's containers naming that cgroup, not the shared
// one. Each daemon's oom_score_adj is containerd's plus one, as
// containerd's TestShimOOMScore checks, and stays so across an in-place
// upgrade. BinaryName is refused, naming the option: berth runs no
// runtime binary.
func testShimCgroup(t *testing.T, d *daemon) {
	rootfs := filepath.Join(d.dir, "shimcg-rootfs")
	if err := busybox.MakeRootfs(rootfs); err != nil {
		t.Fatal(err)
	}
	cg := "/berth-shimcg-" + d.namespace
	roots := []string{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids"}
	if isCgroup2("/sys/fs/cgroup") {
		roots = []string{"/sys/fs/cgroup"}
	}
	var made []string
	for _, root := range roots {
		dir := filepath.Join(root, cg)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		made = append(made, dir)
	}
	const id, shared, keeper = "shimcg", "shimcg-shared", "shimcg-keeper"
	defer func() {
		for _, c := range []string{id, shared, keeper} {
			d.remove(c)
		}
		d.ctr("containers", "rm", id+"-bin")
		// The daemons exit with their last task; then the cgroup is empty.
		deadline := time.Now().Add(10 * time.Second)
		for _, dir := range made {
			for procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs")); len(procs) > 0 && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
				procs, _ = os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			}
		}
		if err := hoststate.RemoveCgroup(strings.TrimPrefix(cg, "/")); err != nil {
			t.Errorf("cgroups left behind: %v", err)
		}
	}()
	wantScore := min(oomScoreAdj(t, d.cmd.Process.Pid)+1, 1000)
	client, ctx := d.tasks(t, d.namespace)
	opts, err := anypbOf(&runcoptions.Options{ShimCgroup: cg})
	if err != nil {
		t.Fatal(err)
	}
	startIn := func(c string, annotations ...string) int {
		t.Helper()
		args := []string{"container", "create", "--rootfs"}
		for _, a := range annotations {
			args = append(args, "--annotation", a)
		}
		d.ctrOK(append(args, "--runtime", runtimeName, rootfs, c, "/bin/sleep", "300")...)
		if _, err := client.Create(ctx, &tasksapi.CreateTaskRequest{ContainerID: c, Options: opts}); err != nil {
			t.Fatalf("create %s with ShimCgroup %s: %v", c, cg, err)
		}
		if _, err := client.Start(ctx, &tasksapi.StartRequest{ContainerID: c}); err != nil {
			t.Fatal(err)
		}
		shim := shimOfTask(t, d, c)
		for _, dir := range made {
			procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			if err != nil || !containsLine(string(procs), strconv.Itoa(shim)) {
				t.Errorf("%s: %s holds %q (%v); want the shim daemon, pid %d", c, dir, procs, err, shim)
			}
		}
		if got := oomScoreAdj(t, shim); got != wantScore {
			t.Errorf("%s: the shim daemon's oom_score_adj is %d; want containerd's plus one, %d", c, got, wantScore)
		}
		return shim
	}
	startIn(id, "io.containerd.berth.v2.shim=per-container")

	// The namespace's shared daemon serving already: the container goes
	// to a daemon in the cgroup, and the shared one stays where it is.
	d.runDetached(keeper, "sleep", "300")
	sharedDaemon := shimOfTask(t, d, keeper)
	if got := startIn(shared); got == sharedDaemon {
		t.Errorf("a container naming ShimCgroup went to the namespace's shared daemon %d", got)
	}
	for _, dir := range made {
		if procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs")); containsLine(string(procs), strconv.Itoa(sharedDaemon)) {
			t.Errorf("the namespace's shared daemon %d was moved into %s", sharedDaemon, dir)
		}
	}

	// Across an in-place upgrade: the same score.
	if st := upgradeDaemon(t, d, id, 1); st.Generation != 1 {
		t.Fatalf("upgrade of the ShimCgroup daemon: %+v", st)
	}
	if got := oomScoreAdj(t, shimOfTask(t, d, id)); got != wantScore {
		t.Errorf("after an in-place upgrade the shim daemon's oom_score_adj is %d; want %d", got, wantScore)
	}

	d.ctrOK("container", "create", "--rootfs", "--runtime", runtimeName, rootfs, id+"-bin", "/bin/true")
	opts, err = anypbOf(&runcoptions.Options{BinaryName: "/usr/bin/runc"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Create(ctx, &tasksapi.CreateTaskRequest{ContainerID: id + "-bin", Options: opts})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "BinaryName") {
		t.Fatalf("create with BinaryName: %v; want InvalidArgument naming BinaryName", err)
	}
}

// oomScoreAdj reads pid's oom_score_adj.
func oomScoreAdj(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// shimOfTask is the pid of the shim daemon that is the parent of the
// task's init.
func shimOfTask(t *testing.T, d *daemon, id string) int {
	t.Helper()
	ppid, err := testutil.ParentPid(d.taskPid(id))
	if err != nil {
		t.Fatal(err)
	}
	return ppid
}

func containsLine(s, line string) bool {
	for _, l := range strings.Split(s, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func isCgroup2(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "cgroup.controllers"))
	return err == nil
}
