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
	"time"

	bootstrap "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
)

const (
	// groupAnnotation and sandboxAnnotation put containers in one shim.
	groupAnnotation   = "io.containerd.runc.v2.group"
	sandboxAnnotation = "io.kubernetes.cri.sandbox-id"
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
	address, err := socketAddress(socketDir, f.address, f.namespace, groupOf(bundle, f.id))
	if err != nil {
		return err
	}
	if err := ensureDaemon(f, bundle, address); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(bundle, addressFile), []byte(address)); err != nil {
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

func bundleDir(f *flags) (string, error) {
	if f.bundle != "" {
		return f.bundle, nil
	}
	return os.Getwd()
}

// groupOf returns the shim group of a container: its group or sandbox
// annotation, or its own id.
func groupOf(bundle, id string) string {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return id
	}
	var s specs.Spec
	if json.Unmarshal(data, &s) != nil {
		return id
	}
	for _, key := range []string{groupAnnotation, sandboxAnnotation} {
		if g := s.Annotations[key]; g != "" {
			return g
		}
	}
	return id
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

// ensureDaemon starts the group's daemon unless one already serves address.
func ensureDaemon(f *flags, bundle, address string) error {
	path := socketPath(address)
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return err
	}
	l, err := net.Listen("unix", path)
	if err != nil && errors.Is(err, syscall.EADDRINUSE) {
		if conn, derr := net.DialTimeout("unix", path, time.Second); derr == nil {
			conn.Close()
			return nil // the group's daemon is already serving
		}
		// A socket left by a dead daemon: take its place.
		if rerr := os.Remove(path); rerr != nil {
			return fmt.Errorf("remove stale socket %s: %w", path, rerr)
		}
		l, err = net.Listen("unix", path)
	}
	if err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
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
	return cmd.Process.Release()
}

// writeFileAtomic writes data to path through a temporary file and rename.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
