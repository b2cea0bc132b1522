package kubelet

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/hoststate"
)

// kernelTunables are the global sysctls the kubelet sets at start when
// protectKernelDefaults is false (pkg/kubelet/cm's setupKernelTunables):
// no namespace holds them, so the lane saves and restores them.
var kernelTunables = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// hostState is what a handler's run changes outside its directory and
// namespaces, saved before the kubelet starts.
type hostState struct {
	kubelet         string
	sysctls         map[string]string
	kubepodsExisted bool
}

func saveHost(t *testing.T, kubelet string) *hostState {
	t.Helper()
	h := &hostState{kubelet: kubelet, sysctls: map[string]string{}}
	for _, name := range kernelTunables {
		data, err := os.ReadFile(filepath.Join("/proc/sys", name))
		if err != nil {
			t.Fatalf("save sysctl %s: %v", name, err)
		}
		h.sysctls[name] = strings.TrimSpace(string(data))
	}
	h.kubepodsExisted = len(hoststate.CgroupDirs("kubepods")) > 0
	if h.kubepodsExisted {
		t.Fatal("the host already has kubepods cgroups: another kubelet runs here, and the lane would share them")
	}
	return h
}

// restore stops any kubelet the suite left running (by its binary, so
// that it recreates no pod), then runs each cleanup in order (remove the
// pods, stop containerd), removes the kubelet's cgroups and puts the
// sysctls back. Errors fail the test.
func (h *hostState) restore(t *testing.T, sock string, cleanups ...func() error) {
	for _, pid := range hoststate.ProcessesOf(h.kubelet) {
		t.Logf("a kubelet (pid %d) outlived the suite: killed", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(hoststate.ProcessesOf(h.kubelet)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range cleanups {
		if err := c(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	// A shim daemon of the lane's containerd that outlived it: berth's
	// fails the lane; containerd's runc shim's is only reported. Either is
	// killed, by pid.
	if left, _ := hoststate.WaitShimsGone("", sock, 10*time.Second); len(left) > 0 {
		for _, pid := range left {
			exe, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
			if strings.HasSuffix(exe, "containerd-shim-berth-v2") {
				t.Errorf("berth's shim daemon %d outlived the pods and containerd", pid)
			} else {
				t.Logf("a shim daemon (%s, pid %d) outlived the pods and containerd: killed", exe, pid)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if cgroupDriver() == "systemd" {
		removeKubepodsSlice(t)
	}
	if err := hoststate.RemoveCgroupTree("kubepods"); err != nil {
		t.Errorf("kubepods cgroups left: %v", err)
	}
	if left := hoststate.CgroupDirs("kubepods"); len(left) > 0 {
		t.Errorf("kubepods cgroups left: %v", left)
	}
	for name, v := range h.sysctls {
		if err := os.WriteFile(filepath.Join("/proc/sys", name), []byte(v), 0o644); err != nil {
			t.Errorf("restore sysctl %s=%s: %v", name, v, err)
		}
	}
}

// removeKubepodsSlice stops the slices the kubelet's systemd cgroup driver
// made (kubepods.slice and those below it), which outlive the kubelet,
// and fails the test if their cgroup stays.
func removeKubepodsSlice(t *testing.T) {
	if out, err := exec.Command("systemctl", "stop", "kubepods.slice").CombinedOutput(); err != nil {
		t.Errorf("systemctl stop kubepods.slice: %v: %s", err, out)
	}
	if _, err := os.Stat("/sys/fs/cgroup/kubepods.slice"); err == nil {
		t.Errorf("kubepods.slice's cgroup left after systemctl stop")
	}
}
