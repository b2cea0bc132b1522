package shim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	bootstrap "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/berth-oci/berth/cgroups"
	"github.com/berth-oci/berth/shim/internal/fsutil"
	"github.com/berth-oci/berth/shim/options"
	"github.com/berth-oci/berth/shim/stdio"
)

const (
	// groupAnnotation and sandboxAnnotation put containers in one shim.
	groupAnnotation   = "io.containerd.runc.v2.group"
	sandboxAnnotation = "io.kubernetes.cri.sandbox-id"
	// ShimAnnotation chooses, for a container without a group or sandbox
	// annotation, between the namespace's shared daemon (ShimShared, the
	// default) and a daemon of its own (ShimPerContainer).
	ShimAnnotation   = "io.containerd.berth.v2.shim"
	ShimShared       = "shared"
	ShimPerContainer = "per-container"
	// PodDaemonEnv, in the shim's environment, chooses how Kubernetes pods
	// (containers with a sandbox annotation) are served: a daemon per pod
	// ("per-pod", the default, as containerd's runc shim) or one daemon for
	// every pod of the namespace (ShimShared). It is set where containerd
	// starts the shim, for example by a wrapper script as the runtime_path
	// of a RuntimeClass's handler.
	PodDaemonEnv = "BERTH_SHIM_POD_DAEMON"
	// PodDaemonPerPod is PodDaemonEnv's default: a daemon per pod.
	PodDaemonPerPod = "per-pod"
	// defaultSocketDir is where containerd 1.x–2.2 shims listen.
	defaultSocketDir = "/run/containerd/s"
	// socketPathLimit is the longest unix socket path containerd accepts.
	socketPathLimit = 106
	// addressFile is where containerd 1.6/1.7 look for the shim's address
	// when they reconnect.
	addressFile = "address"
)

// start is the "start" action: find or launch the daemon serving this
// container's group and print its address.
func start(ctx context.Context, f *flags, stdin io.Reader, stdout io.Writer) error {
	input, err := io.ReadAll(stdin)
	if err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	params := parseBootstrapParams(input, f)
	bundle, err := bundleDir(f)
	if err != nil {
		return err
	}
	socketDir := defaultSocketDir
	if params != nil && params.GetSocketDir() != "" {
		socketDir = params.GetSocketDir()
	}
	podsShared, err := podDaemonShared(os.Getenv(PodDaemonEnv))
	if err != nil {
		return err
	}
	// Checked here too, so that containerd sees a wrong value.
	if _, err := stdio.ThroughPipes(os.Getenv(StdioEnv), stdio.LookPath); err != nil {
		return err
	}
	group, err := groupOf(bundle, f.id, podsShared)
	if err != nil {
		return err
	}
	opts, err := startOptions(input, params)
	if err != nil {
		return err
	}
	address, err := socketAddress(socketDir, f.address, f.namespace, daemonGroup(group, opts.ShimCgroup))
	if err != nil {
		return err
	}
	if err := ensureDaemon(ctx, f, bundle, address, opts.ShimCgroup); err != nil {
		return err
	}
	if err := fsutil.WriteAtomic(filepath.Join(bundle, addressFile), []byte(address)); err != nil {
		return err
	}
	if params != nil {
		out, err := proto.Marshal(&bootstrap.BootstrapResult{Version: 3, Address: address, Protocol: "ttrpc"})
		if err != nil {
			return err
		}
		_, err = stdout.Write(out)
		return err
	}
	_, err = io.WriteString(stdout, address)
	return err
}

// parseBootstrapParams returns containerd 2.3+'s BootstrapParams, or nil
// when stdin holds the older form (runtime options as an Any, or nothing).
// Both parse as either message, so the ids must match as well.
func parseBootstrapParams(input []byte, f *flags) *bootstrap.BootstrapParams {
	if len(input) == 0 {
		return nil
	}
	var p bootstrap.BootstrapParams
	if err := proto.Unmarshal(input, &p); err != nil {
		return nil
	}
	if p.GetInstanceID() != f.id || p.GetNamespace() != f.namespace {
		return nil
	}
	return &p
}

// startOptions reads the runtime options "start" is given: an extension of
// containerd 2.3+'s BootstrapParams, or (containerd 1.6 to 2.2) the
// options as an Any on stdin; none, or another runtime's, are the defaults.
func startOptions(input []byte, params *bootstrap.BootstrapParams) (options.Options, error) {
	if params != nil {
		var ro runcoptions.Options
		found, err := params.FindExtension(&ro)
		if err != nil {
			return options.Options{}, err
		}
		if found {
			return options.FromRunc(&ro), nil
		}
		var config runtimeoptions.Options
		if found, err := params.FindExtension(&config); err != nil || !found {
			return options.Options{}, err
		}
		return options.FromConfig(&config)
	}
	if len(input) == 0 {
		return options.Options{}, nil
	}
	var a anypb.Any
	if err := proto.Unmarshal(input, &a); err != nil {
		return options.Options{}, nil // not options: nothing to honour
	}
	opts, err := options.Decode(&a)
	if err != nil {
		return options.Options{}, fmt.Errorf("runtime options: %w", err)
	}
	return opts, nil
}

func bundleDir(f *flags) (string, error) {
	if f.bundle != "" {
		return f.bundle, nil
	}
	return os.Getwd()
}

// podDaemonShared reads PodDaemonEnv's value.
func podDaemonShared(v string) (bool, error) {
	switch v {
	case "", PodDaemonPerPod:
		return false, nil
	case ShimShared:
		return true, nil
	default:
		return false, fmt.Errorf("environment variable %s: %q is neither %q nor %q", PodDaemonEnv, v, PodDaemonPerPod, ShimShared)
	}
}

// groupOf returns the shim group of a container: its group annotation; its
// sandbox annotation, unless podsShared; its own id when berth's shim
// annotation asks for a daemon of its own; otherwise "", the group of
// every such container in the namespace, so one daemon serves them all.
func groupOf(bundle, id string, podsShared bool) (string, error) {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return id, nil
	}
	var s specs.Spec
	if json.Unmarshal(data, &s) != nil {
		return id, nil
	}
	keys := []string{groupAnnotation, sandboxAnnotation}
	if podsShared {
		keys = keys[:1]
	}
	for _, key := range keys {
		if g := s.Annotations[key]; g != "" {
			return g, nil
		}
	}
	switch v := s.Annotations[ShimAnnotation]; v {
	case "", ShimShared:
		return "", nil
	case ShimPerContainer:
		return id, nil
	default:
		return "", fmt.Errorf("annotation %s: %q is neither %q nor %q", ShimAnnotation, v, ShimShared, ShimPerContainer)
	}
}

// socketAddress derives the group's socket from a hash, as containerd's
// own shims do, so every container of a group finds the same daemon.
func socketAddress(dir, containerdAddress, namespace, group string) (string, error) {
	sum := sha256.Sum256([]byte(filepath.Join(containerdAddress, namespace, group)))
	path := filepath.Join(dir, hex.EncodeToString(sum[:]))
	if len(path) > socketPathLimit {
		return "", fmt.Errorf("socket path %s is longer than %d bytes", path, socketPathLimit)
	}
	return "unix://" + path, nil
}

func socketPath(address string) string { return strings.TrimPrefix(address, "unix://") }

// ensureDaemon starts the group's daemon unless one already serves address
// and has pinned the container (see group.go). The daemon, started or
// serving, joins shimCgroup, if set; one it starts gets containerd's OOM
// score plus one (see bootstrap_daemon.go).
func ensureDaemon(ctx context.Context, f *flags, bundle, address, shimCgroup string) error {
	path := socketPath(address)
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return err
	}
	var l net.Listener
	for attempt := 0; ; attempt++ {
		var err error
		l, err = net.Listen("unix", path)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 5 {
			return fmt.Errorf("listen on %s: %w", path, err)
		}
		serving, err := pinDaemon(ctx, path, f.id)
		switch {
		case serving && shimCgroup != "":
			return joinServingDaemon(path, shimCgroup)
		case serving:
			return nil // the group's daemon will serve this container
		case err != nil:
			// A socket left by a dead daemon: take its place.
			if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				return fmt.Errorf("remove stale socket %s: %w", path, rerr)
			}
		}
		// Otherwise the daemon retired and removed its socket: listen again.
	}
	ul := l.(*net.UnixListener)
	// The daemon serves the socket: closing start's copy must not unlink it.
	ul.SetUnlinkOnClose(false)
	defer ul.Close()
	lf, err := ul.File()
	if err != nil {
		os.Remove(path)
		return err
	}
	defer lf.Close()
	exe, err := mainExe()
	if err != nil {
		os.Remove(path)
		return err
	}
	args := []string{"-namespace", f.namespace, "-id", f.id, "-address", f.address, "-socket", address}
	if f.debug {
		args = append(args, "-debug")
	}
	// Inherited by the daemon (start's parent is containerd).
	if err := adjustOOMScore(os.Getppid()); err != nil {
		os.Remove(path)
		return err
	}
	cmd := exec.Command(exe, args...)
	cmd.Dir = bundle
	cmd.ExtraFiles = []*os.File{lf} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Stdio stays /dev/null: containerd reads start's combined output
	// until every writer is closed.
	if err := cmd.Start(); err != nil {
		os.Remove(path)
		return fmt.Errorf("start shim daemon: %w", err)
	}
	if shimCgroup != "" {
		if err := cgroups.JoinProcess(shimCgroup, cmd.Process.Pid); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			os.Remove(path)
			return fmt.Errorf("runtime option ShimCgroup: %w", err)
		}
	}
	return cmd.Process.Release()
}
