package containerd

import (
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

// testShimCgroup: with the runc option ShimCgroup, the daemon started for
// the container joins that cgroup, as containerd's runc shim does (a real
// client's check: make the cgroup, run a container, find the shim in it).
// BinaryName is refused, naming the option: berth runs no runtime binary.
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
	const id = "shimcg"
	defer func() {
		d.remove(id)
		d.ctr("containers", "rm", id+"-bin")
		// The daemon exits with its last task; then the cgroup is empty.
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
	// A daemon of its own: the namespace's shared daemon, already
	// running, would not move (nor does the runc shim's for a group).
	d.ctrOK("container", "create", "--rootfs", "--annotation", "io.containerd.berth.v2.shim=per-container",
		"--runtime", runtimeName, rootfs, id, "/bin/sleep", "300")
	client, ctx := d.tasks(t, d.namespace)
	opts, err := anypbOf(&runcoptions.Options{ShimCgroup: cg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Create(ctx, &tasksapi.CreateTaskRequest{ContainerID: id, Options: opts}); err != nil {
		t.Fatalf("create with ShimCgroup %s: %v", cg, err)
	}
	if _, err := client.Start(ctx, &tasksapi.StartRequest{ContainerID: id}); err != nil {
		t.Fatal(err)
	}
	shim := shimOfTask(t, d, id)
	for _, dir := range made {
		procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil || !containsLine(string(procs), strconv.Itoa(shim)) {
			t.Errorf("%s holds %q (%v); want the shim daemon, pid %d", dir, procs, err, shim)
		}
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
