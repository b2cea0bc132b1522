package runtime

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-oci/berth/internal/testutil"
)

// relayPair is a relay whose container end and host end are sockets of
// the test: send writes as the container, host reads as systemd.
func relayPair(t *testing.T) (relay *NotifyRelay, send func(string), host *net.UnixConn) {
	t.Helper()
	dir := t.TempDir()
	listen := func(name string) *net.UnixConn {
		c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, name), Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	ctr, host := listen("notify.sock"), listen("host.sock")
	send = func(msg string) {
		c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: filepath.Join(dir, "notify.sock"), Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	return &NotifyRelay{sock: ctr, host: filepath.Join(dir, "host.sock")}, send, host
}

// readHost reads one datagram and closes the fds it carries (as systemd
// closes a barrier's pipe) when closeFds is set.
func readHost(t *testing.T, host *net.UnixConn, closeFds bool) (string, int) {
	t.Helper()
	_ = host.SetReadDeadline(time.Now().Add(10 * time.Second))
	msg, files, err := testutil.ReadMessage(host)
	if err != nil {
		t.Fatal(err)
	}
	if closeFds {
		testutil.CloseAll(files)
	} else {
		t.Cleanup(func() { testutil.CloseAll(files) })
	}
	return msg, len(files)
}

func TestNotifyRelayReady(t *testing.T) {
	relay, send, host := relayPair(t)
	send("STATUS=starting\n")
	send("STATUS=up\nREADY=1\n")
	done := make(chan error, 1)
	go func() { done <- relay.Relay(context.Background(), 42, os.Getpid()) }()
	if msg, _ := readHost(t, host, true); msg != "READY=1\nMAINPID=42\n" {
		t.Errorf("first datagram %q; want READY then MAINPID, and no STATUS", msg)
	}
	if msg, fds := readHost(t, host, true); msg != "BARRIER=1" || fds != 1 {
		t.Errorf("second datagram %q with %d fds; want BARRIER=1 with a pipe", msg, fds)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Relay still waits after the host closed the barrier's pipe")
	}
}

func TestNotifyRelayProcessGone(t *testing.T) {
	relay, _, host := relayPair(t)
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := relay.Relay(context.Background(), cmd.Process.Pid, cmd.Process.Pid); err != nil {
		t.Fatalf("Relay after the process has gone: %v", err)
	}
	_ = host.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := host.Read(make([]byte, 64)); err == nil {
		t.Errorf("the host got %d bytes though the container never said READY", n)
	}
}

func TestNotifyRelayContext(t *testing.T) {
	relay, _, _ := relayPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := relay.Relay(ctx, 1, os.Getpid()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Relay: %v; want the context's deadline", err)
	}
}

// TestNotifyRelayBarrierUnanswered: a host that never closes the
// barrier's pipe holds Relay only until the deadline (30 s, or the
// context's).
func TestNotifyRelayBarrierUnanswered(t *testing.T) {
	relay, send, host := relayPair(t)
	send("READY=1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- relay.Relay(ctx, 42, os.Getpid()) }()
	readHost(t, host, true)
	readHost(t, host, false) // the pipe stays open
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Relay with an unanswered barrier: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Relay waited past its context for the barrier")
	}
}

func TestWithNotifySocket(t *testing.T) {
	s := &specs.Spec{Process: &specs.Process{Env: []string{"A=1"}}, Mounts: []specs.Mount{{Destination: "/proc"}}}
	got := withNotifySocket(s, "/run/berth/c/notify")
	if len(s.Mounts) != 1 || len(s.Process.Env) != 1 {
		t.Fatalf("the caller's spec changed: %+v", s)
	}
	m := got.Mounts[len(got.Mounts)-1]
	if m.Destination != "/run/notify" || m.Source != "/run/berth/c/notify" || !strings.Contains(strings.Join(m.Options, ","), "ro") {
		t.Errorf("mount %+v", m)
	}
	if env := got.Process.Env; env[len(env)-1] != "NOTIFY_SOCKET=/run/notify/notify.sock" {
		t.Errorf("env %q", env)
	}
}

// TestProcessAliveZombie: an exited child not yet reaped counts as gone,
// so a detached run's relay ends with its init.
func TestProcessAliveZombie(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("an exited, unreaped child still counts as alive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !processAlive(os.Getpid()) {
		t.Fatal("this process does not count as alive")
	}
}
