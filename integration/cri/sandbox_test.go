package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/crienv"
	"github.com/berth-oci/berth/integration/hoststate"
	"github.com/berth-oci/berth/internal/testutil"
)

// sandboxPodConfig is a pod with what its sandbox sets up for its
// containers: a hostname, a DNS config, an IPC sysctl and a shared pid
// namespace.
func sandboxPodConfig(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name+"-pod.json")
	config := fmt.Sprintf(`{"metadata": {"name": %q, "namespace": "default", "uid": "%s-uid"},
		"hostname": "lane-pod",
		"dns_config": {"servers": ["10.0.0.10"], "searches": ["lane.local"], "options": ["ndots:2"]},
		"linux": {"sysctls": {"kernel.shm_rmid_forced": "1"},
			"security_context": {"namespace_options": {"pid": 0}}}}`, name, name)
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// podView is what a container sees of its pod.
type podView map[string]string

// viewOfPod runs a pod of handler with sandboxPodConfig and a container in
// it, and returns what the container sees, the pod's id and pid, and a
// function removing the pod.
func viewOfPod(t *testing.T, crictlBin string, e *crienv.Env, dir, handler string) (podView, string, int, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	crictl := func(args ...string) string {
		t.Helper()
		out, err := e.Crictl(ctx, crictlBin, args...)
		if err != nil {
			t.Fatalf("handler %s: crictl %v: %v: %s", handler, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	crictl("pull", probeImage)
	name := "view-" + handler
	podCfg := sandboxPodConfig(t, dir, name)
	pod := crictl("runp", "--runtime", handler, podCfg)
	remove := func() {
		_, _ = e.Crictl(context.Background(), crictlBin, "stopp", pod)
		_, _ = e.Crictl(context.Background(), crictlBin, "rmp", pod)
	}
	ctrCfg := filepath.Join(dir, name+"-ctr.json")
	config := fmt.Sprintf(`{"metadata": {"name": "view"}, "image": {"image": %q}, "command": ["sleep", "300"],
		"annotations": {"io.kubernetes.container.hash": "0"}}`, probeImage)
	if err := os.WriteFile(ctrCfg, []byte(config), 0o644); err != nil {
		remove()
		t.Fatal(err)
	}
	id := crictl("create", pod, ctrCfg, podCfg)
	crictl("start", id)
	view := podView{}
	for what, cmd := range map[string]string{
		"/etc/hostname":              "cat /etc/hostname",
		"hostname":                   "hostname",
		"/etc/resolv.conf":           "cat /etc/resolv.conf",
		"/etc/hosts":                 "cat /etc/hosts",
		"kernel.shm_rmid_forced":     "cat /proc/sys/kernel/shm_rmid_forced",
		"/dev/shm":                   "awk '$2 == \"/dev/shm\" {print $3, $4}' /proc/mounts",
		"sleep is pid 1":             "[ \"$(pidof sleep)\" = 1 ] && echo yes || echo no",
		"pid 1 is another's":         "[ -e /proc/1 ] && echo yes || echo no",
		"eth0 has the pod's address": "ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1",
	} {
		view[what] = crictl("exec", "--sync", id, "sh", "-c", cmd)
	}
	var st struct {
		Status struct{ Network struct{ IP string } }
		Info   struct{ Pid int }
	}
	out := crictl("inspectp", "-o", "json", pod)
	if err := json.Unmarshal([]byte(out[strings.IndexByte(out, '{'):]), &st); err != nil {
		remove()
		t.Fatalf("handler %s: inspectp: %v", handler, err)
	}
	if view["eth0 has the pod's address"] == st.Status.Network.IP && st.Status.Network.IP != "" {
		view["eth0 has the pod's address"] = "yes"
	}
	return view, pod, st.Info.Pid, remove
}

// checkSandboxPods: a pod of the sandbox handler (no pause container) and
// one of the runc shim show their containers the same pod: hostname, the
// files the CRI mounts (hostname, hosts, resolv.conf, /dev/shm), an IPC
// sysctl, the shared pid namespace and the pod's network. The sandbox
// pod has no container of its own in containerd, and once removed it
// leaves neither its holder, its files, its shm mount nor its daemon.
func checkSandboxPods(t *testing.T, crictlBin string, e *crienv.Env, dir string) {
	t.Helper()
	want, _, _, removeRunc := viewOfPod(t, crictlBin, e, dir, crienv.HandlerRunc)
	removeRunc()
	got, pod, pid, remove := viewOfPod(t, crictlBin, e, dir, crienv.HandlerBerthSandbox)
	removed := false
	defer func() {
		if !removed {
			remove()
		}
	}()
	for what, w := range want {
		if got[what] != w {
			t.Errorf("a container of a %s pod sees %s %q; under the runc shim %q", crienv.HandlerBerthSandbox, what, got[what], w)
		}
	}
	fmt.Printf("handler %s: a container sees its pod as under the runc shim (%d checks: hostname, hosts, resolv.conf, /dev/shm, sysctl, pid and network namespaces)\n",
		crienv.HandlerBerthSandbox, len(want))
	containers, err := e.Ctr(context.Background(), "containers", "ls", "-q")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(containers, pod) {
		t.Errorf("the %s pod %s has a container in containerd (a pause container?)", crienv.HandlerBerthSandbox, pod)
	}
	shim := parentOf(t, pid)
	upgradePodDaemon(t, crictlBin, e, shim, pid, pod)
	criRoot := filepath.Join(e.ContainerdRoot(), "io.containerd.grpc.v1.cri", "sandboxes", pod)
	criState := filepath.Join(e.ContainerdState(), "io.containerd.grpc.v1.cri", "sandboxes", pod)
	if _, err := os.Stat(filepath.Join(criRoot, "resolv.conf")); err != nil {
		t.Errorf("the pod's resolv.conf: %v", err)
	}
	remove()
	removed = true
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []string
		if syscall.Kill(pid, 0) == nil {
			left = append(left, fmt.Sprintf("the holder %d", pid))
		}
		if syscall.Kill(shim, 0) == nil {
			left = append(left, fmt.Sprintf("the shim daemon %d", shim))
		}
		for _, d := range []string{criRoot, criState} {
			if _, err := os.Stat(d); err == nil {
				left = append(left, d)
			}
		}
		if m := hoststate.MountsUnder(criState); len(m) > 0 {
			left = append(left, m...)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("a removed %s pod left %v", crienv.HandlerBerthSandbox, left)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// upgradePodDaemon moves the pod's daemon onto its binary again, in place
// (SIGHUP), and checks that the pod went across: the same holder, the
// pod ready, and its container served (exec). The pod's stop and removal
// after it are the new image's.
func upgradePodDaemon(t *testing.T, crictlBin string, e *crienv.Env, shim, holder int, pod string) {
	t.Helper()
	testutil.UpgradeShimInPlace(t, shim, "the pod's daemon")
	if syscall.Kill(holder, 0) != nil || parentOf(t, holder) != shim {
		t.Fatalf("the pod's holder %d did not survive its daemon's upgrade", holder)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := e.Crictl(ctx, crictlBin, "inspectp", "-o", "json", pod)
	if err != nil || !strings.Contains(string(out), `"SANDBOX_READY"`) {
		t.Fatalf("the pod after its daemon's upgrade: %v: %s", err, out)
	}
	ids, err := e.Crictl(ctx, crictlBin, "ps", "-q", "--pod", pod)
	if err != nil || strings.TrimSpace(string(ids)) == "" {
		t.Fatalf("the pod's containers after the upgrade: %v: %q", err, ids)
	}
	id := strings.Fields(string(ids))[0]
	if out, err := e.Crictl(ctx, crictlBin, "exec", "--sync", id, "hostname"); err != nil || strings.TrimSpace(string(out)) != "lane-pod" {
		t.Fatalf("exec in the pod after its daemon's upgrade: %v: %q", err, out)
	}
	fmt.Printf("handler %s: the pod's daemon upgraded in place; the holder, the pod and its container went across\n", crienv.HandlerBerthSandbox)
}

// parentOf returns the parent pid of pid.
func parentOf(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var ppid int
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			_, _ = fmt.Sscan(strings.TrimSpace(v), &ppid)
		}
	}
	return ppid
}
