package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/crienv"
)

// probeImage is the busybox image of the suite, which the lane serves.
const probeImage = "registry.k8s.io/e2e-test-images/busybox:1.29-2"

// checkUpdateThenExec is the sequence of a Kubernetes in-place pod resize
// followed by an exec probe: UpdateContainerResources, then ExecSync, twice,
// on one container of a pod of handler. It also checks where the shim kept
// the container's state: with the runc option Root, under
// <Root>/k8s.io, where runc v1.5.2 lists it (as containerd's runc shim
// does).
func checkUpdateThenExec(t *testing.T, crictlBin string, e *crienv.Env, dir, handler, runc string) {
	t.Helper()
	p := startProbe(t, crictlBin, e, dir, handler, "update-exec-"+handler, `["sleep", "300"]`)
	defer p.remove()
	id, crictl := p.id, p.crictl
	for i, mem := range []string{"100663296", "134217728"} {
		crictl("update", "--memory", mem, id)
		if out := crictl("exec", "--sync", id, "sh", "-c", "echo ok"); out != "ok" {
			t.Fatalf("handler %s: exec after update %d printed %q", handler, i+1, out)
		}
	}
	fmt.Printf("handler %s: update then exec sync, twice: ok\n", handler)
	if systemdLane() {
		// The systemd driver puts the container in a scope of the pod's
		// slice; cgroupfs would make a directory named by the whole
		// "slice:prefix:id" path.
		cg := containerCgroup(t, p, handler)
		if want := "/berthlane.slice/cri-containerd-" + id + ".scope"; !strings.HasSuffix(cg, want) {
			t.Fatalf("handler %s: the container's cgroup is %q, want one ending in %q (SystemdCgroup = true)", handler, cg, want)
		}
		fmt.Printf("handler %s: the container is in the systemd scope %s\n", handler, cg)
	}
	if root := e.RuncRoot(handler); handler == crienv.HandlerRunc || handler == crienv.HandlerBerth {
		nsRoot := filepath.Join(root, "k8s.io")
		out, err := exec.Command(runc, "--root", nsRoot, "list", "-q").CombinedOutput()
		if err != nil || !strings.Contains(string(out), id) {
			t.Fatalf("handler %s: runc --root %s list: %v: %q; want container %s (the runc option Root is <Root>/<namespace>)",
				handler, nsRoot, err, out, id)
		}
		fmt.Printf("handler %s: the container's state is under %s, where runc lists it\n", handler, nsRoot)
	}
}

// probe is one running container in its own pod, of one handler.
type probe struct {
	pod, id string
	// crictl runs crictl and returns its trimmed output, failing the
	// test on an error.
	crictl func(args ...string) string
	remove func()
}

// startProbe runs a pod named name with handler and in it a container of
// probeImage running command (a JSON list) under a 64 MiB limit.
func startProbe(t *testing.T, crictlBin string, e *crienv.Env, dir, handler, name, command string) *probe {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	p := &probe{}
	p.crictl = func(args ...string) string {
		t.Helper()
		out, err := e.Crictl(ctx, crictlBin, args...)
		if err != nil {
			t.Fatalf("handler %s: %v", handler, err)
		}
		return strings.TrimSpace(string(out))
	}
	p.crictl("pull", probeImage)
	p.pod = p.crictl("runp", "--runtime", handler, podConfig(t, dir, name))
	p.remove = func() {
		_, _ = e.Crictl(context.Background(), crictlBin, "stopp", p.pod)
		_, _ = e.Crictl(context.Background(), crictlBin, "rmp", p.pod)
		cancel()
	}
	ctrConfig := filepath.Join(dir, name+"-ctr.json")
	// An annotation, as the kubelet always gives some: containerd 2.2.1's
	// restore of a checkpoint (CRImportCheckpoint) panics on a container
	// that had none.
	config := fmt.Sprintf(`{"metadata": {"name": "probe"}, "image": {"image": %q}, "command": %s,
		"annotations": {"io.kubernetes.container.hash": "0"},
		"linux": {"resources": {"memory_limit_in_bytes": 67108864}}}`, probeImage, command)
	if err := os.WriteFile(ctrConfig, []byte(config), 0o644); err != nil {
		p.remove()
		t.Fatal(err)
	}
	p.id = p.crictl("create", p.pod, ctrConfig, podConfig(t, dir, name))
	p.crictl("start", p.id)
	return p
}

// containerCgroup returns the cgroup v2 path of the probe's container, read
// from /proc/<pid>/cgroup of its init.
func containerCgroup(t *testing.T, p *probe, handler string) string {
	t.Helper()
	var st struct{ Info struct{ Pid int } }
	out := p.crictl("inspect", "-o", "json", p.id)
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Info.Pid == 0 {
		t.Fatalf("handler %s: inspect %s: no pid (%v)", handler, p.id, err)
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", st.Info.Pid))
	if err != nil {
		t.Fatalf("handler %s: %v", handler, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return rest
		}
	}
	t.Fatalf("handler %s: no cgroup v2 line in /proc/%d/cgroup: %q", handler, st.Info.Pid, data)
	return ""
}
