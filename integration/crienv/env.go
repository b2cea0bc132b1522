// Package crienv runs the environment of the Kubernetes CRI lane (make
// test-cri) and of the CRI bench: a local registry serving the images of
// cri-tools' validation suite, containerd 2.x with its CRI plugin, CNI
// (bridge, host-local, portmap) in private directories, and the cleanup
// that puts the host's network state back as it was.
package crienv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-oci/berth/integration/hoststate"
)

// Handlers are the CRI runtime handlers the lane's containerd offers.
const (
	// HandlerRunc is containerd's runc shim with runc v1.5.2.
	HandlerRunc = "runc"
	// HandlerBerth is berth's shim as runtime_path of the runc runtime
	// type: containerd 2.x then sends runc's options and reads berth's
	// features (user namespaces, recursive read-only mounts).
	HandlerBerth = "berth"
	// HandlerBerthNative is berth's own runtime type, io.containerd.berth.v2.
	HandlerBerthNative = "berth-native"
	// HandlerBerthSharedPods is HandlerBerth with the shim started with
	// BERTH_SHIM_POD_DAEMON=shared (by a wrapper script as runtime_path):
	// one shim daemon for every pod of the namespace.
	HandlerBerthSharedPods = "berth-shared-pods"
	// HandlerBerthSystemd is HandlerBerth with SystemdCgroup = true, which
	// a host without systemd must refuse.
	HandlerBerthSystemd = "berth-systemd"
	// HandlerBerthSandbox is berth's own runtime type with sandboxer =
	// "shim" (containerd 2.x only): pods without a pause container,
	// through the shim's Sandbox API.
	HandlerBerthSandbox = "berth-sandbox"
)

// Config says what the environment runs.
type Config struct {
	// Dir is a private directory for containerd's root, state, socket,
	// configuration and logs.
	Dir string
	// Containerd is a containerd binary, 1.6 or later; ShimDir holds its
	// containerd-shim-runc-v2 and is put first in its PATH.
	Containerd, ShimDir string
	// ConfigVersion is the version of containerd's configuration: 2 for
	// containerd 1.x, 3 for 2.x.
	ConfigVersion int
	// Runc is the runc the runc handler runs.
	Runc string
	// BerthShim is containerd-shim-berth-v2.
	BerthShim string
	// Crane serves the registry; CNIBinDir holds the CNI plugins.
	Crane, CNIBinDir string
	// GoBin builds the images' programs; BusyboxRoot is Debian's dynamic
	// busybox package unpacked.
	GoBin, BusyboxRoot string
	// SystemdCgroup sets SystemdCgroup = true for the runc shim's and
	// berth's handlers: a host with systemd as pid 1 (the systemd VM lane).
	SystemdCgroup bool
	// DefaultHandler is containerd's default_runtime_name, the handler of
	// a pod that names none (a kubelet without RuntimeClasses); HandlerRunc
	// when empty.
	DefaultHandler string
	// Agnhost, when set, is a built k8s.io/kubernetes/test/images/agnhost,
	// with its localhost.crt and localhost.key beside it: the registry then
	// serves the node e2e suite's images too.
	Agnhost string
}

// Env is a running environment.
type Env struct {
	cfg        Config
	registry   *exec.Cmd
	containerd *exec.Cmd
	// Socket is containerd's (CRI's) socket.
	Socket string
	// hostState is what Close restores.
	// network is the host's network state before the lane's CNI.
	network *hoststate.Network
	// k8sCgroupExisted: the pods' parent cgroup was there before.
	k8sCgroupExisted bool
}

// bridgeName is the CNI bridge of the lane; network is its CNI network.
const (
	bridgeName = "berthcri0"
	network    = "berth-cri"
	subnet     = "10.88.77.0/24"
)

// Start builds and serves the images, writes the configuration and starts
// containerd. Close it even when Start fails.
func Start(ctx context.Context, cfg Config) (*Env, error) {
	e := &Env{cfg: cfg, Socket: filepath.Join(cfg.Dir, "containerd.sock")}
	if err := e.saveHostState(); err != nil {
		return e, err
	}
	addr, err := freeAddr()
	if err != nil {
		return e, err
	}
	if err := e.startRegistry(ctx, addr); err != nil {
		return e, err
	}
	if err := BuildImages(ctx, cfg.GoBin, cfg.Crane, cfg.BusyboxRoot, filepath.Join(cfg.Dir, "images"), addr, cfg.Agnhost); err != nil {
		return e, fmt.Errorf("build images: %w", err)
	}
	if err := e.writeConfig(addr); err != nil {
		return e, err
	}
	return e, e.startContainerd(ctx)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (e *Env) startRegistry(ctx context.Context, addr string) error {
	logf, err := os.Create(filepath.Join(e.cfg.Dir, "registry.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	e.registry = exec.Command(e.cfg.Crane, "registry", "serve", "--address", addr)
	e.registry.Stdout, e.registry.Stderr = logf, logf
	if err := e.registry.Start(); err != nil {
		return fmt.Errorf("start registry: %w", err)
	}
	return waitFor(ctx, 20*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "registry on "+addr)
}

// writeConfig writes containerd's configuration, the registry mirrors and
// the CNI network.
func (e *Env) writeConfig(addr string) error {
	d := e.cfg.Dir
	for _, host := range []string{"registry.k8s.io", "gcr.io", "docker.io"} {
		hosts := fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n",
			"http://"+addr, "http://"+addr)
		dir := filepath.Join(d, "certs.d", host)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(hosts), 0o644); err != nil {
			return err
		}
	}
	cni := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": %q}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, network, bridgeName, subnet, filepath.Join(d, "cni-ipam"))
	if err := os.MkdirAll(filepath.Join(d, "cni"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d, "cni", "10-berth-cri.conflist"), []byte(cni), 0o644); err != nil {
		return err
	}
	crictl := fmt.Sprintf("runtime-endpoint: %s\nimage-endpoint: %s\ntimeout: 60\n", e.Endpoint(), e.Endpoint())
	if err := os.WriteFile(filepath.Join(d, "crictl.yaml"), []byte(crictl), 0o644); err != nil {
		return err
	}
	tmpl, section := configV3, `plugins."io.containerd.cri.v1.runtime".containerd`
	if e.cfg.ConfigVersion == 2 {
		tmpl, section = configV2, `plugins."io.containerd.grpc.v1.cri".containerd`
	}
	sharedPods := filepath.Join(d, "containerd-shim-berth-shared-pods")
	wrapper := fmt.Sprintf("#!/bin/sh\nBERTH_SHIM_POD_DAEMON=shared exec %q \"$@\"\n", e.cfg.BerthShim)
	if err := os.WriteFile(sharedPods, []byte(wrapper), 0o755); err != nil {
		return err
	}
	def := e.cfg.DefaultHandler
	if def == "" {
		def = HandlerRunc
	}
	rts := fmt.Sprintf("    default_runtime_name = %q\n", def) +
		runtimes(section, e.cfg.Runc, e.cfg.BerthShim, sharedPods, e.RuncRoot(HandlerRunc), e.RuncRoot(HandlerBerth), e.cfg.SystemdCgroup)
	if e.cfg.ConfigVersion >= 3 {
		rts += fmt.Sprintf(`
    [%[1]s.runtimes.%[2]s]
      runtime_type = "io.containerd.berth.v2"
      sandboxer = "shim"`, section, HandlerBerthSandbox)
		// containerd 2.3 hands the pod sandbox handler its options table
		// (2.2 gives it none).
		if e.cfg.SystemdCgroup {
			rts += fmt.Sprintf(`
      [%[1]s.runtimes.%[2]s.options]
        SystemdCgroup = true`, section, HandlerBerthSandbox)
		}
	}
	config := fmt.Sprintf(tmpl, d, e.Socket, SandboxImage, e.cfg.CNIBinDir, rts)
	return os.WriteFile(filepath.Join(d, "config.toml"), []byte(config), 0o644)
}

func (e *Env) startContainerd(ctx context.Context) error {
	logf, err := os.OpenFile(filepath.Join(e.cfg.Dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	e.containerd = exec.Command(e.cfg.Containerd, "--config", filepath.Join(e.cfg.Dir, "config.toml"))
	// Shims are found in PATH: containerd's runc shim and berth's.
	e.containerd.Env = append(os.Environ(), "PATH="+e.cfg.ShimDir+":"+filepath.Dir(e.cfg.BerthShim)+":"+os.Getenv("PATH"))
	e.containerd.Stdout, e.containerd.Stderr = logf, logf
	if err := e.containerd.Start(); err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	err = waitFor(ctx, 30*time.Second, func() bool {
		c, err := net.Dial("unix", e.Socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "containerd on "+e.Socket)
	if err != nil {
		return err
	}
	return waitCRI(ctx, e.Socket, 60*time.Second)
}

// RestartContainerd stops containerd (SIGTERM; its shims and pods keep
// running) and starts it again with the same configuration, appending to
// its log, and returns once its CRI answers again.
func (e *Env) RestartContainerd(ctx context.Context) error {
	hoststate.Terminate(e.containerd, 10*time.Second)
	return e.startContainerd(ctx)
}

// Endpoint is the CRI endpoint for crictl and critest.
func (e *Env) Endpoint() string { return "unix://" + e.Socket }

// CrictlArgs are the global arguments that point crictl at the
// environment's containerd, through a configuration file of its own.
func (e *Env) CrictlArgs() []string {
	return []string{"--config", filepath.Join(e.cfg.Dir, "crictl.yaml")}
}

// Log returns the tail of containerd's log.
func (e *Env) Log() string {
	data, _ := os.ReadFile(filepath.Join(e.cfg.Dir, "containerd.log"))
	if len(data) > 8000 {
		data = data[len(data)-8000:]
	}
	return string(data)
}

func waitFor(ctx context.Context, timeout time.Duration, ok func() bool, what string) error {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not up after %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// Crictl runs crictl (the binary crictl) against the environment's
// containerd and returns its standard output; an error carries its
// standard error.
func (e *Env) Crictl(ctx context.Context, crictl string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, crictl, append(e.CrictlArgs(), args...)...).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = fmt.Errorf("crictl %s: %w: %s", strings.Join(args, " "), err, ee.Stderr)
	}
	return out, err
}

// RemoveAllPods stops and removes every pod (and so every container) the
// CRI knows, so that no shim outlives the environment.
func (e *Env) RemoveAllPods(ctx context.Context, crictl string) error {
	_, err := e.Crictl(ctx, crictl, "rmp", "--all", "--force")
	return err
}

// Close stops containerd and the registry, and puts back the host's
// network state: the bridge, the iptables rules and chains the CNI
// plugins added, CNI's cached results for the lane's network, and
// net.ipv4.ip_forward.
func (e *Env) Close() error {
	hoststate.Terminate(e.containerd, 10*time.Second)
	hoststate.Terminate(e.registry, 5*time.Second)
	var errs []error
	cached, _ := filepath.Glob("/var/lib/cni/results/" + network + "-*")
	for _, f := range cached {
		errs = append(errs, os.Remove(f))
	}
	if _, err := net.InterfaceByName(bridgeName); err == nil {
		if out, err := exec.Command("ip", "link", "delete", bridgeName).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge %s: %v: %s", bridgeName, err, out))
		}
	}
	// containerd's CRI puts pods in /k8s.io/<id> and leaves /k8s.io.
	if !e.k8sCgroupExisted {
		errs = append(errs, hoststate.RemoveCgroup("k8s.io"))
	}
	errs = append(errs, e.restoreHostState())
	return errors.Join(errs...)
}

func (e *Env) saveHostState() error {
	_, err := os.Stat("/sys/fs/cgroup/pids/k8s.io")
	e.k8sCgroupExisted = err == nil
	e.network, err = hoststate.SaveNetwork()
	return err
}

func (e *Env) restoreHostState() error {
	if e.network == nil {
		return nil
	}
	return e.network.Restore()
}

// ContainerdRoot and ContainerdState are the private containerd's root
// and state directories.
func (e *Env) ContainerdRoot() string  { return filepath.Join(e.cfg.Dir, "root") }
func (e *Env) ContainerdState() string { return filepath.Join(e.cfg.Dir, "state") }

// Ctr runs the containerd's own ctr (beside its binary) against it, in
// the CRI's namespace, and returns its output.
func (e *Env) Ctr(ctx context.Context, args ...string) (string, error) {
	ctr := filepath.Join(filepath.Dir(e.cfg.Containerd), "ctr")
	out, err := exec.CommandContext(ctx, ctr, append([]string{"-a", e.Socket, "-n", "k8s.io"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %v: %w: %s", args, err, out)
	}
	return string(out), nil
}

// RuncRoot is the runc option Root that handler is configured with (the
// runc and berth handlers): each shim keeps its containers' state under
// <RuncRoot>/<namespace>.
func (e *Env) RuncRoot(handler string) string {
	return filepath.Join(e.cfg.Dir, "runc-roots", handler)
}

// runtimes is the runtimes table of containerd's CRI configuration under
// section: the handlers of the lane.
func runtimes(section, runc, berthShim, sharedPods, runcRoot, berthRoot string, systemd bool) string {
	// berth's own runtime type takes runc's option names too: containerd
	// 2.x hands it the table as TOML (runtimeoptions' ConfigBody).
	nativeOptions := ""
	if systemd {
		nativeOptions = fmt.Sprintf(`
      [%s.runtimes.%s.options]
        SystemdCgroup = true`, section, HandlerBerthNative)
	}
	return fmt.Sprintf(`    [%[1]s.runtimes.%[2]s]
      runtime_type = "io.containerd.runc.v2"
      [%[1]s.runtimes.%[2]s.options]
        BinaryName = %[5]q
        Root = %[10]q
        SystemdCgroup = %[12]v
    [%[1]s.runtimes.%[3]s]
      runtime_type = "io.containerd.runc.v2"
      runtime_path = %[6]q
      [%[1]s.runtimes.%[3]s.options]
        Root = %[11]q
        SystemdCgroup = %[12]v
    [%[1]s.runtimes.%[4]s]
      runtime_type = "io.containerd.berth.v2"%[13]s
    [%[1]s.runtimes.%[7]s]
      runtime_type = "io.containerd.runc.v2"
      runtime_path = %[6]q
      [%[1]s.runtimes.%[7]s.options]
        SystemdCgroup = true
    [%[1]s.runtimes.%[8]s]
      runtime_type = "io.containerd.runc.v2"
      runtime_path = %[9]q
      [%[1]s.runtimes.%[8]s.options]
        SystemdCgroup = false`, section, HandlerRunc, HandlerBerth, HandlerBerthNative, runc, berthShim, HandlerBerthSystemd,
		HandlerBerthSharedPods, sharedPods, runcRoot, berthRoot, systemd, nativeOptions)
}

// daemonConfig is the part of containerd's configuration that every
// version shares: the private root, state, socket and opt directory.
const daemonConfig = `root = "%[1]s/root"
state = "%[1]s/state"

[grpc]
  address = %[2]q

[plugins."io.containerd.internal.v1.opt"]
  path = "%[1]s/opt"
`

// configV3 is containerd 2.x's configuration; its arguments are the
// directory, the socket, the sandbox image, the CNI plugins' directory and
// the runtimes table.
const configV3 = "version = 3\n" + daemonConfig + `
[plugins."io.containerd.transfer.v1.local"]
  config_path = "%[1]s/certs.d"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = %[3]q
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "%[1]s/certs.d"

[plugins."io.containerd.cri.v1.runtime"]
  # This VM's root lacks CAP_SYS_RESOURCE: without this, every sandbox
  # fails, under any runtime.
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [%[4]q]
    conf_dir = "%[1]s/cni"
  [plugins."io.containerd.cri.v1.runtime".containerd]
%[5]s

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`

// configV2 is containerd 1.6 and 1.7's, with the same arguments.
const configV2 = "version = 2\n" + daemonConfig + `
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[3]q
  # This VM's root lacks CAP_SYS_RESOURCE (see configV3).
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "%[1]s/certs.d"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[4]q
    conf_dir = "%[1]s/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
%[5]s`
