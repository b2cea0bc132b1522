package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/integration/hoststate"
)

// daemon is a private containerd (root, state and socket in one temporary
// directory) with the busybox image imported.
type daemon struct {
	ctrBin    string
	dir, sock string
	namespace string
	cmd       *exec.Cmd
}

// startDaemon starts containerd with shimDir first in its PATH.
func startDaemon(containerdBin, ctrBin, shimDir string) (*daemon, error) {
	dir, err := os.MkdirTemp("", "berth-bench-ctd")
	if err != nil {
		return nil, err
	}
	d := &daemon{ctrBin: ctrBin, dir: dir, sock: filepath.Join(dir, "c.sock"), namespace: "berthbench"}
	config := fmt.Sprintf(`version = 2
root = "%[1]s/root"
state = "%[1]s/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "%[1]s/c.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "%[1]s/opt"
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	d.cmd = exec.Command(containerdBin, "--config", filepath.Join(dir, "config.toml"))
	d.cmd.Env = append(os.Environ(), "PATH="+shimDir+":"+os.Getenv("PATH"))
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for d.ctrCmd("version").Run() != nil {
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("containerd did not come up; see %s", logf.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
	image := filepath.Join(dir, "busybox.tar")
	if err := busybox.WriteImage(image); err != nil {
		d.stop()
		return nil, err
	}
	if _, err := measure(d.ctrCmd("image", "import", image)); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

func (d *daemon) ctrCmd(args ...string) *exec.Cmd {
	return exec.Command(d.ctrBin, hoststate.CtrArgs(d.sock, d.namespace, filepath.Join(d.dir, "fifo"), args...)...)
}

// ctr runs ctr and returns its error with its output.
func (d *daemon) ctr(args ...string) error {
	_, err := measure(d.ctrCmd(args...))
	return err
}

// removeAll kills and removes every container of the namespace.
func (d *daemon) removeAll() {
	out, _ := d.ctrCmd("containers", "ls", "-q").Output()
	ids := strings.Fields(string(out))
	parallel(len(ids), 10, func(i int) error {
		_ = d.ctr("task", "kill", "-s", "KILL", ids[i])
		_ = d.ctr("task", "rm", "-f", ids[i])
		return d.ctr("containers", "rm", ids[i])
	})
}

// stop removes the containers, stops containerd, stops any shim still
// serving this daemon (found by its -address), unmounts and removes the
// directory.
func (d *daemon) stop() {
	d.removeAll()
	hoststate.Terminate(d.cmd, 10*time.Second)
	for _, pid := range d.shimPids("") {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	mounts := hoststate.MountsUnder(d.dir)
	for i := len(mounts) - 1; i >= 0; i-- {
		_ = syscall.Unmount(mounts[i], syscall.MNT_DETACH)
	}
	os.RemoveAll(d.dir)
	if err := hoststate.RemoveCgroup(d.namespace); err != nil {
		fmt.Fprintln(os.Stderr, "bench: cgroups left behind:", err)
	}
}

// shimPids returns the pids of the shim daemons serving this containerd
// whose binary name ends in binary (any shim when binary is empty).
func (d *daemon) shimPids(binary string) []int {
	return hoststate.ShimPids(binary, d.sock)
}
