// Package nerdctl is the nerdctl lane: containerd's Docker-compatible CLI
// (nerdctl, built from the Go module proxy by build.sh) on a private
// containerd 2.3.7, driving berth's shim (io.containerd.berth.v2) and the
// runc shim with runc v1.5.2 side by side, with Debian's CNI plugins.
package nerdctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/integration/hoststate"
	"github.com/berth-oci/berth/internal/testutil"
)

// image is the lane's busybox image, loaded from an OCI archive.
const image = busybox.ImageName

// namespace is the lane's containerd namespace, and so the parent cgroup
// of its containers under the cgroupfs driver.
const namespace = "berthlane"

// bridge is nerdctl's default network's bridge, made by CNI on the first
// container of that network.
const bridge = "nerdctl0"

// env is a private containerd and the nerdctl invocation that reaches it.
type env struct {
	t          *testing.T
	dir        string
	sock       string
	nerdctl    string
	containerd *exec.Cmd
	network    *hoststate.Network
	bridgeWas  bool
}

// startEnv starts containerd 2.3.7 with a shim directory first on its
// PATH (the runc shim with runc v1.5.2 as runc, and berth's shim), loads
// the busybox image, and undoes everything when the test ends: no
// container, shim, mount or cgroup of the lane left, the network state
// (iptables, ip_forward, the bridge) as it was.
func startEnv(t *testing.T) *env {
	t.Helper()
	dir, err := os.MkdirTemp("", "berth-nerdctl")
	if err != nil {
		t.Fatal(err)
	}
	// A user-namespaced container's root (a subordinate id) must reach its
	// rootfs under containerd's state, below this directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, sock: filepath.Join(dir, "containerd.sock"), nerdctl: testutil.Binary(t, "NERDCTL", "")}
	if e.network, err = hoststate.SaveNetwork(); err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat("/sys/class/net/" + bridge)
	e.bridgeWas = err == nil
	t.Cleanup(e.stop)
	shims := filepath.Join(dir, "bin")
	if err := os.MkdirAll(shims, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string]string{
		"containerd-shim-runc-v2":  "CONTAINERD_23_SHIM_RUNC",
		"runc":                     "RUNC_BINARY",
		"containerd-shim-berth-v2": "BERTH_SHIM",
	} {
		if err := os.Symlink(testutil.Binary(t, env, ""), filepath.Join(shims, name)); err != nil {
			t.Fatal(err)
		}
	}
	config := fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = ["io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), e.sock, e.sock+".ttrpc")
	if err := os.WriteFile(filepath.Join(dir, "containerd.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	e.containerd = exec.Command(testutil.Binary(t, "CONTAINERD_23", ""), "--config", filepath.Join(dir, "containerd.toml"))
	e.containerd.Env = append(os.Environ(), "PATH="+shims+":"+os.Getenv("PATH"))
	e.containerd.Stdout, e.containerd.Stderr = log, log
	if err := e.containerd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for e.nerd("version").Code != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer nerdctl in 30 s; its log:\n%s", e.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
	archive := filepath.Join(dir, "busybox.tar")
	if err := busybox.WriteImage(archive); err != nil {
		t.Fatal(err)
	}
	if r := e.nerd("load", "-i", archive); r.Code != 0 {
		t.Fatalf("nerdctl load: %s", r.Outcome())
	}
	return e
}

// args are nerdctl's global flags for the lane's containerd.
func (e *env) args() []string {
	return []string{"--address", e.sock, "--namespace", namespace, "--data-root", filepath.Join(e.dir, "nerdctl"),
		"--cni-path", testutil.Binary(e.t, "CNI_BIN_DIR", "/usr/lib/cni"), "--cni-netconfpath", filepath.Join(e.dir, "cni")}
}

// nerd runs one nerdctl command, bounded by 2 minutes.
func (e *env) nerd(args ...string) testutil.Result { return e.nerdIn("", args...) }

// nerdIn runs one nerdctl command with stdin (none when empty).
func (e *env) nerdIn(stdin string, args ...string) testutil.Result {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.nerdctl, append(e.args(), args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	cmd.Dir = e.dir
	r, err := testutil.RunCommand(cmd)
	if err != nil {
		return testutil.Result{Code: -1, Stderr: err.Error()}
	}
	return r.Trim()
}

// nerdTTY runs one nerdctl command on a terminal (script(1) gives it one),
// as a user at a shell does with -t.
func (e *env) nerdTTY(args ...string) testutil.Result {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	line := shellQuote(append([]string{e.nerdctl}, append(e.args(), args...)...))
	cmd := exec.CommandContext(ctx, "script", "-qec", line, "/dev/null")
	r, err := testutil.RunCommand(cmd)
	if err != nil {
		return testutil.Result{Code: -1, Stderr: err.Error()}
	}
	r.Stdout = strings.ReplaceAll(r.Stdout, "\r", "")
	return r.Trim()
}

func shellQuote(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}

// stop removes every container, stops containerd, and checks that no
// shim, mount or cgroup of the lane is left, and that the network is as
// it was.
func (e *env) stop() {
	t := e.t
	if e.containerd != nil && e.containerd.Process != nil {
		if ids := strings.Fields(e.nerd("ps", "-aq").Stdout); len(ids) > 0 {
			if r := e.nerd(append([]string{"rm", "--force"}, ids...)...); r.Code != 0 {
				t.Errorf("nerdctl rm: %s", r.Outcome())
			}
		}
		for _, bin := range []string{"runc-v2", "berth-v2"} {
			if left, _ := hoststate.WaitShimsGone(bin, e.sock, 15*time.Second); len(left) > 0 {
				t.Errorf("%s shims left running: %v", bin, left)
			}
		}
		hoststate.Terminate(e.containerd, 10*time.Second)
	}
	if m := hoststate.MountsUnder(e.dir); len(m) > 0 {
		t.Errorf("mounts left under %s: %v", e.dir, m)
		for _, p := range m {
			_ = unix.Unmount(p, unix.MNT_DETACH)
		}
	}
	if err := hoststate.RemoveCgroup(namespace); err != nil {
		t.Errorf("the lane's cgroups: %v", err)
	}
	if !e.bridgeWas {
		if out, err := exec.Command("ip", "link", "delete", bridge).CombinedOutput(); err != nil && !strings.Contains(string(out), "Cannot find device") {
			t.Errorf("ip link delete %s: %v: %s", bridge, err, out)
		}
	}
	if err := e.network.Restore(); err != nil {
		t.Errorf("the host's network state: %v", err)
	}
	if t.Failed() {
		t.Logf("containerd log tail:\n%s", e.logTail())
	}
	if err := os.RemoveAll(e.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Errorf("remove %s: %v", e.dir, err)
	}
}

func (e *env) logTail() string {
	data, _ := os.ReadFile(filepath.Join(e.dir, "containerd.log"))
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
