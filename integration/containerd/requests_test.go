package containerd

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/integration/hoststate"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// tasks returns a client of containerd's Tasks API and a context in the
// namespace ns; the connection closes with the test.
func (d *daemon) tasks(t *testing.T, ns string) (tasksapi.TasksClient, context.Context) {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+d.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return tasksapi.NewTasksClient(conn), metadata.AppendToOutgoingContext(ctx, "containerd-namespace", ns)
}

func memoryResources(t *testing.T, limit int64) *anypb.Any {
	t.Helper()
	res, err := json.Marshal(specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}})
	if err != nil {
		t.Fatal(err)
	}
	return &anypb.Any{TypeUrl: "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources", Value: res}
}

// testUpdateThenExec: an update, then an exec, twice, on one task (a
// Kubernetes in-place resize followed by an exec probe). Every exec after
// an update failed with "can't start container with SkipDevices set".
func testUpdateThenExec(t *testing.T, d *daemon) {
	d.runDetached("updexec", "sleep", "300")
	client, ctx := d.tasks(t, d.namespace)
	for i, limit := range []int64{96 << 20, 128 << 20} {
		if _, err := client.Update(ctx, &tasksapi.UpdateTaskRequest{ContainerID: "updexec", Resources: memoryResources(t, limit)}); err != nil {
			t.Fatalf("update %d: %v", i+1, err)
		}
		r := d.ctr("task", "exec", "--exec-id", "probe"+string(rune('a'+i)), "updexec", "sh", "-c", "echo ok")
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != "ok" {
			t.Fatalf("exec after update %d: code %d stdout %q stderr %q", i+1, r.Code, r.Stdout, r.Stderr)
		}
	}
}

// testExecTerminalInRequest: an exec whose request asks for a terminal and
// whose process spec does not (containerd's client sets only the request's)
// runs on a terminal, as under the runc shim.
func testExecTerminalInRequest(t *testing.T, d *daemon) {
	d.runDetached("reqtty", "sleep", "300")
	client, ctx := d.tasks(t, d.namespace)
	ps, err := json.Marshal(specs.Process{
		Args: []string{"sh", "-c", "test -t 0 && test -t 1 && exit 5; exit 6"},
		Cwd:  "/", Env: []string{"PATH=/bin:/usr/bin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Exec(ctx, &tasksapi.ExecProcessRequest{
		ContainerID: "reqtty", ExecID: "tty1", Terminal: true,
		Spec: &anypb.Any{TypeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Process", Value: ps},
	})
	if err != nil {
		t.Fatalf("exec with a terminal in the request only: %v", err)
	}
	if _, err := client.Start(ctx, &tasksapi.StartRequest{ContainerID: "reqtty", ExecID: "tty1"}); err != nil {
		t.Fatalf("start: %v", err)
	}
	w, err := client.Wait(ctx, &tasksapi.WaitRequest{ContainerID: "reqtty", ExecID: "tty1"})
	if err != nil {
		t.Fatal(err)
	}
	if w.ExitStatus != 5 {
		t.Fatalf("exit %d; want 5 (stdin and stdout a terminal)", w.ExitStatus)
	}
	if _, err := client.DeleteProcess(ctx, &tasksapi.DeleteProcessRequest{ContainerID: "reqtty", ExecID: "tty1"}); err != nil {
		t.Fatal(err)
	}
}

// testRuncRootOption: with the runc option Root, the shim keeps a
// namespace's containers under <Root>/<namespace>, as containerd's runc
// shim has runc do: the same id in two namespaces sharing a Root runs
// twice, and runc v1.5.2 lists each container under its namespace's root.
func testRuncRootOption(t *testing.T, d *daemon) {
	runc := os.Getenv("RUNC_BINARY")
	if runc == "" {
		t.Fatal("RUNC_BINARY is not set (run make test)")
	}
	rootfs := filepath.Join(d.dir, "rootroot-rootfs")
	if err := busybox.MakeRootfs(rootfs); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(d.dir, "runc-root")
	opts, err := anypbOf(&runcoptions.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	const id = "rootopt"
	namespaces := []string{d.namespace, d.namespace + "-other"}
	// Removed before the test ends: the shim of the other namespace
	// must be gone by the check that follows each test.
	defer func() {
		for _, ns := range namespaces {
			d.ctrNSQuiet(ns, "task", "kill", "-s", "KILL", id)
			d.ctrNSQuiet(ns, "task", "rm", "-f", id)
			d.ctrNSQuiet(ns, "containers", "rm", id)
			if ns != d.namespace {
				d.ctrNSQuiet(ns, "namespaces", "rm", ns)
				if err := hoststate.RemoveCgroup(ns); err != nil {
					t.Errorf("cgroups left behind: %v", err)
				}
			}
		}
	}()
	for _, ns := range namespaces {
		d.ctrNS(ns, "container", "create", "--rootfs", "--runtime", runtimeName, rootfs, id, "/bin/sleep", "300")
		client, ctx := d.tasks(t, ns)
		if _, err := client.Create(ctx, &tasksapi.CreateTaskRequest{ContainerID: id, Options: opts}); err != nil {
			t.Fatalf("create %s in namespace %s with Root %s: %v", id, ns, root, err)
		}
		if _, err := client.Start(ctx, &tasksapi.StartRequest{ContainerID: id}); err != nil {
			t.Fatalf("start %s in namespace %s: %v", id, ns, err)
		}
	}
	for _, ns := range namespaces {
		nsRoot := filepath.Join(root, ns)
		out, err := exec.Command(runc, "--root", nsRoot, "list", "-q").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != id {
			t.Fatalf("runc --root %s list: %v: %q; want %s", nsRoot, err, out, id)
		}
	}
}

func anypbOf(m proto.Message) (*anypb.Any, error) {
	a, err := anypb.New(m)
	if err != nil {
		return nil, err
	}
	// containerd looks the type up by its typeurl registration name.
	a.TypeUrl = "containerd.runc.v1.Options"
	return a, nil
}

// ctrNS runs ctr in namespace ns and fails the test on an error.
func (d *daemon) ctrNS(ns string, args ...string) string {
	d.t.Helper()
	saved := d.namespace
	d.namespace = ns
	defer func() { d.namespace = saved }()
	return d.ctrOK(args...)
}

// ctrNSQuiet runs ctr in namespace ns, ignoring the outcome (cleanup).
func (d *daemon) ctrNSQuiet(ns string, args ...string) {
	saved := d.namespace
	d.namespace = ns
	defer func() { d.namespace = saved }()
	d.ctr(args...)
}
