package integration

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-oci/berth/internal/testutil"
	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/spec"
)

// TestConsoleSocket: create --console-socket sends the container's pty
// master to the socket, as containerd and conmon expect.
func TestConsoleSocket(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	bundle := newBundle(t, spec.WithTerminal(true), spec.WithArgs("sh", "-c", "tty; echo ready"))
	sockPath := filepath.Join(t.TempDir(), "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sockPath, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	received := make(chan *os.File, 1)
	go func() {
		conn, err := ln.AcceptUnix()
		if err != nil {
			received <- nil
			return
		}
		defer conn.Close()
		f, _ := conn.File()
		defer f.Close()
		master, err := berth.ReceiveConsole(f)
		if err != nil {
			t.Error(err)
		}
		received <- master
	}()
	id := uniqueID(t)
	c.ok("create", "--console-socket", sockPath, "--bundle", bundle, id)
	master := <-received
	if master == nil {
		t.Fatal("no console received")
	}
	defer master.Close()
	c.ok("start", id)
	out := readUntil(t, master, "ready")
	if !strings.Contains(out, "/dev/pts/0") {
		t.Fatalf("terminal output %q", out)
	}
	c.waitStatus(id, berth.Stopped)
	c.ok("delete", id)
	assertGone(t, c.root, id, bundle, 0)
}

// TestForegroundTerminal runs `berth run` on a pseudo-terminal: berth
// relays between it and the container's own terminal, both ways.
func TestForegroundTerminal(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	bundle := newBundle(t, spec.WithTerminal(true),
		spec.WithArgs("sh", "-c", `tty; echo prompt; read line; echo "got:$line"; exit 5`))
	master, slave := testutil.Pty(t)
	id := uniqueID(t)
	cmd := exec.Command(c.bin, "--root", c.root, "run", "--bundle", bundle, id)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	out := readUntil(t, master, "prompt")
	if _, err := master.Write([]byte("hello\r")); err != nil {
		t.Fatal(err)
	}
	out += readUntil(t, master, "got:hello")
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 5 {
		t.Fatalf("run exited %d, want 5; output %q", code, out)
	}
	if !strings.Contains(out, "/dev/pts/0") {
		t.Fatalf("output %q lacks the container's tty", out)
	}
	assertGone(t, c.root, id, bundle, 0)
}

// readUntil reads from f until want appears, or fails after 10s.
func readUntil(t *testing.T, f interface{ Read([]byte) (int, error) }, want string) string {
	t.Helper()
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for !strings.Contains(buf.String(), want) {
			n, err := f.Read(b)
			buf.Write(b[:n])
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("no %q within 10s", want)
	}
	if !strings.Contains(buf.String(), want) {
		t.Fatalf("output %q ended without %q", buf.String(), want)
	}
	return buf.String()
}
