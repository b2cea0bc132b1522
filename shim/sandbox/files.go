package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-oci/berth/shim/internal/fsutil"
	"golang.org/x/sys/unix"
)

// The files a pod's containers get from the CRI, which the pod sandbox
// writes where containerd 2.2's CRI looks for them: it mounts each into
// every container of the pod only if it exists (docs/sandbox.md).
const (
	criPluginDir = "io.containerd.grpc.v1.cri"
	// sandboxControllerPlugin is the plugin whose directories hold the
	// sandbox bundles.
	sandboxControllerPlugin = "io.containerd.sandbox.controller.v1.shim"
	criSandboxesDir         = "sandboxes"
	podShmSize              = 64 << 20 // the CRI's defaultShmSize
	hostEtcHosts            = "/etc/hosts"
	hostResolvConf          = "/etc/resolv.conf"
	sandboxWorkLink         = "work"
	sandboxBundleUps        = 3 // <plugin dir>/<namespace>/<id>
)

// podFiles are where a pod's files go: dir for hostname, hosts and
// resolv.conf (under containerd's root), volatile for shm (under its
// state).
type podFiles struct {
	dir, volatile string
}

// podFilesFor finds the CRI's directories of pod id from the sandbox
// bundle containerd made: <state>/<controller plugin>/<ns>/<id>, its work
// link pointing to <root>/<controller plugin>/<ns>/<id>.
func podFilesFor(bundle, id string) (podFiles, error) {
	work, err := os.Readlink(filepath.Join(bundle, sandboxWorkLink))
	if err != nil {
		return podFiles{}, fmt.Errorf("sandbox bundle %s: its work link, to containerd's root: %w", bundle, err)
	}
	up := func(p string) string {
		for range sandboxBundleUps {
			p = filepath.Dir(p)
		}
		return p
	}
	root, state := up(filepath.Clean(work)), up(filepath.Clean(bundle))
	return podFiles{
		dir:      filepath.Join(root, criPluginDir, criSandboxesDir, id),
		volatile: filepath.Join(state, criPluginDir, criSandboxesDir, id),
	}, nil
}

func (f podFiles) shm() string { return filepath.Join(f.volatile, "shm") }

// write writes the pod's files as the CRI's own pods have them: the
// hostname (the config's, else the host's), a copy of the host's hosts,
// resolv.conf from the DNS config (else the host's), and a tmpfs for
// /dev/shm unless the pod shares the host's IPC. On error it removes
// what it wrote.
func (f podFiles) write(c podConfig) (retErr error) {
	defer func() {
		if retErr != nil {
			_ = f.remove()
		}
	}()
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return err
	}
	hostname := c.hostname
	if hostname == "" {
		var err error
		if hostname, err = os.Hostname(); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(f.dir, "hostname"), []byte(hostname+"\n"), 0o644); err != nil {
		return err
	}
	if err := fsutil.Copy(hostEtcHosts, filepath.Join(f.dir, "hosts"), 0o644); err != nil {
		return err
	}
	resolv := filepath.Join(f.dir, "resolv.conf")
	if c.dnsSet {
		if err := os.WriteFile(resolv, []byte(resolvConf(c)), 0o644); err != nil {
			return err
		}
	} else if err := fsutil.Copy(hostResolvConf, resolv, 0o644); err != nil {
		return err
	}
	if c.ipc == modeNode {
		return nil
	}
	if err := os.MkdirAll(f.shm(), 0o700); err != nil {
		return err
	}
	if err := unix.Mount("shm", f.shm(), "tmpfs", unix.MS_NOEXEC|unix.MS_NOSUID|unix.MS_NODEV,
		fmt.Sprintf("mode=1777,size=%d", podShmSize)); err != nil {
		return fmt.Errorf("mount the pod's shm at %s: %w", f.shm(), err)
	}
	return nil
}

// resolvConf is resolv.conf from the pod's DNS config, as the CRI writes
// it.
func resolvConf(c podConfig) string {
	var b strings.Builder
	if len(c.dnsSearches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(c.dnsSearches, " "))
	}
	if len(c.dnsServers) > 0 {
		fmt.Fprintf(&b, "nameserver %s\n", strings.Join(c.dnsServers, "\nnameserver "))
	}
	if len(c.dnsOptions) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(c.dnsOptions, " "))
	}
	return b.String()
}

// remove unmounts the shm and removes both directories; it can be
// repeated.
func (f podFiles) remove() error {
	if f.dir == "" {
		return nil
	}
	var errs []error
	if err := unix.Unmount(f.shm(), unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("unmount %s: %w", f.shm(), err))
	}
	for _, d := range []string{f.volatile, f.dir} {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
