// Package docker is the Docker lane (make test-docker): Debian's Docker
// 20.10 drives berth's CLI through its "runtimes" configuration, side by
// side with runc v1.5.2, on a private dockerd and containerd 1.6 (their own
// roots and sockets, no iptables, no bridge) with a busybox image imported
// locally. A check that passes with runc must pass with berth.
package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/integration/hoststate"
	"github.com/berth-oci/berth/internal/testutil"
	"golang.org/x/sys/unix"
)

// image is the lane's busybox image, imported from a root filesystem.
const image = "berth-lane/busybox:latest"

// cgroupParent is where dockerd puts the lane's containers, in every
// hierarchy (removed at the end).
const cgroupParent = "berth-docker-lane"

// daemon is a private dockerd on a private containerd.
type daemon struct {
	t          *testing.T
	dir        string
	sock       string // dockerd's API socket
	ctdSock    string // containerd's
	containerd *exec.Cmd
	dockerd    *exec.Cmd
}

// runtimeNames are the names the lane registers its runtimes under in
// dockerd's configuration, the reference first.
var runtimeNames = []string{"runc-1.5.2", "berth"}

// startDaemon starts containerd (the binary containerd) and dockerd with the runtimes registered
// (name to binary), imports the busybox image, and stops and removes
// everything when the test ends.
func startDaemon(t *testing.T, containerd string, runtimes map[string]string) *daemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "berth-docker")
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, dir: dir, sock: filepath.Join(dir, "docker.sock"), ctdSock: filepath.Join(dir, "containerd.sock")}
	t.Cleanup(hostLeftovers(t))
	t.Cleanup(d.stop)
	ctdConfig := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(dir, "containerd-root"), filepath.Join(dir, "containerd-state"), d.ctdSock, d.ctdSock+".ttrpc")
	if err := os.WriteFile(filepath.Join(dir, "containerd.toml"), []byte(ctdConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	rts := map[string]any{}
	for name, bin := range runtimes {
		rts[name] = map[string]string{"path": bin}
	}
	config, err := json.Marshal(map[string]any{
		"runtimes":      rts,
		"live-restore":  true,
		"cgroup-parent": "/" + cgroupParent,
		"exec-opts":     []string{"native.cgroupdriver=cgroupfs"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), config, 0o600); err != nil {
		t.Fatal(err)
	}
	d.containerd = d.spawn("containerd", "containerd.log", containerd, "--config", filepath.Join(dir, "containerd.toml"))
	d.waitFor("containerd", func() bool { _, err := os.Stat(d.ctdSock); return err == nil })
	d.startDockerd()
	d.importImage()
	return d
}

// spawn starts a daemon with its output in the log file logName.
func (d *daemon) spawn(what, logName, bin string, args ...string) *exec.Cmd {
	d.t.Helper()
	logFile, err := os.OpenFile(filepath.Join(d.dir, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		d.t.Fatalf("start %s: %v", what, err)
	}
	return cmd
}

// startDockerd starts dockerd on the lane's configuration (again, after
// stopDockerd: live restore).
func (d *daemon) startDockerd() {
	d.t.Helper()
	d.dockerd = d.spawn("dockerd", "dockerd.log", "dockerd",
		"--config-file", filepath.Join(d.dir, "daemon.json"),
		"--data-root", filepath.Join(d.dir, "data"), "--exec-root", filepath.Join(d.dir, "exec"),
		"--pidfile", filepath.Join(d.dir, "docker.pid"), "-H", "unix://"+d.sock,
		"--containerd", d.ctdSock, "--iptables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none")
	d.waitFor("dockerd", func() bool { return d.docker("version").Code == 0 })
}

// stopDockerd stops dockerd; with live restore its containers go on.
func (d *daemon) stopDockerd() {
	hoststate.Terminate(d.dockerd, 20*time.Second)
	d.dockerd = nil
}

// waitFor waits up to 30s for ready, failing the test with the daemon's
// log if it never is.
func (d *daemon) waitFor(what string, ready func() bool) {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			d.t.Fatalf("%s did not come up; log:\n%s", what, d.logTail(what+".log"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *daemon) logTail(name string) string {
	data, _ := os.ReadFile(filepath.Join(d.dir, name))
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// importImage imports a busybox root filesystem as the lane's image
// (docker 20.10 loads only its own archive format; import takes a plain
// root filesystem tar).
func (d *daemon) importImage() {
	d.t.Helper()
	root := filepath.Join(d.dir, "image-root")
	if err := busybox.MakeRootfs(root); err != nil {
		d.t.Fatal(err)
	}
	layer, err := busybox.TarDir(root)
	if err != nil {
		d.t.Fatal(err)
	}
	archive := filepath.Join(d.dir, "busybox.tar")
	if err := os.WriteFile(archive, layer, 0o600); err != nil {
		d.t.Fatal(err)
	}
	if r := d.docker("import", "--change", `CMD ["sh"]`, "--change", "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin", archive, image); r.Code != 0 {
		d.t.Fatalf("docker import: %s", r.Outcome())
	}
	_ = os.RemoveAll(root)
}

// docker runs one docker command against the lane's dockerd.
func (d *daemon) docker(args ...string) testutil.Result { return d.dockerIn("", args...) }

// dockerIn runs one docker command with stdin (none when empty).
func (d *daemon) dockerIn(stdin string, args ...string) testutil.Result {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.sock, "DOCKER_CONFIG="+filepath.Join(d.dir, "cli"))
	r, err := testutil.RunCommand(cmd)
	if err != nil {
		return testutil.Result{Code: -1, Stderr: err.Error()}
	}
	return r.Trim()
}

// stop removes every container, stops dockerd and containerd, and checks
// that no shim, mount or cgroup of the lane is left.
func (d *daemon) stop() {
	t := d.t
	if d.dockerd != nil {
		if ids := strings.Fields(d.docker("ps", "-aq").Stdout); len(ids) > 0 {
			if r := d.docker(append([]string{"rm", "--force"}, ids...)...); r.Code != 0 {
				t.Errorf("docker rm: %s", r.Outcome())
			}
		}
		d.stopDockerd()
	}
	if left, _ := hoststate.WaitShimsGone("runc-v2", d.ctdSock, 10*time.Second); len(left) > 0 {
		t.Errorf("shims left running: %v", left)
	}
	hoststate.Terminate(d.containerd, 10*time.Second)
	// dockerd bind-mounts its data root onto itself (private propagation)
	// and leaves it, as it does with /var/lib/docker; anything else
	// mounted is a leak.
	if err := unix.Unmount(filepath.Join(d.dir, "data"), unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		t.Errorf("unmount dockerd's data root: %v", err)
	}
	if m := hoststate.MountsUnder(d.dir); len(m) > 0 {
		t.Errorf("mounts left under %s: %v", d.dir, m)
	}
	if err := hoststate.RemoveCgroup(cgroupParent); err != nil {
		t.Errorf("the lane's cgroups: %v", err)
	}
	if t.Failed() {
		t.Logf("dockerd log tail:\n%s", d.logTail("dockerd.log"))
	}
	_ = os.RemoveAll(d.dir)
}

// hostLeftovers records what dockerd makes outside its roots whatever its
// flags (its trust key, its plugin directory) and the host's IP
// forwarding, and returns the cleanup that puts them back as they were.
func hostLeftovers(t *testing.T) func() {
	made := []string{"/etc/docker/key.json", "/run/docker"}
	var absent []string
	for _, p := range made {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			absent = append(absent, p)
		}
	}
	forward, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	return func() {
		for _, p := range absent {
			_ = os.RemoveAll(p)
		}
		if now, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(now) != string(forward) {
			t.Errorf("ip_forward was %q, is %q", forward, now)
		}
	}
}
