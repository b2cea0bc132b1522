package integration

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/internal/testutil"
	"github.com/berth-oci/berth/spec"
)

// withSdnotify copies sdnotify into the bundle's rootfs as /bin/sdnotify.
func withSdnotify(t *testing.T, bundle string) {
	t.Helper()
	bin, err := busybox.SdnotifyBinary()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "rootfs", "bin", "sdnotify"), data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// notifyHost is the caller's NOTIFY_SOCKET (systemd's, in real life): it
// collects the lines it is sent, and closes the pipe a BARRIER=1 carries,
// as systemd does.
type notifyHost struct {
	path  string
	mu    sync.Mutex
	lines []string
}

func newNotifyHost(t *testing.T) *notifyHost {
	t.Helper()
	h := &notifyHost{path: filepath.Join(t.TempDir(), "host.sock")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: h.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		for {
			msg, files, err := testutil.ReadMessage(conn)
			if err != nil {
				return
			}
			testutil.CloseAll(files)
			h.mu.Lock()
			h.lines = append(h.lines, strings.Split(strings.TrimSpace(msg), "\n")...)
			h.mu.Unlock()
		}
	}()
	return h
}

func (h *notifyHost) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.lines...)
}

// runWithNotify runs the CLI with NOTIFY_SOCKET=host and returns what it
// printed, its exit code and its pid.
func runWithNotify(t *testing.T, c *cli, host string, args ...string) (result, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--root", c.root}, args...)...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+host)
	return runCommand(t, cmd), cmd.Process.Pid
}

// TestNotifySocketSideBySide: with NOTIFY_SOCKET set, berth relays the
// container's sd_notify READY to it as runc v1.5.2 does: the container
// sees NOTIFY_SOCKET=/run/notify/notify.sock; run -d, and create then
// start, return once the container said READY=1, and the caller's socket
// gets READY=1, MAINPID (the init's pid; berth's own for a foreground run)
// and BARRIER=1, and nothing the container said before READY. A container
// that exits without READY ends berth's run -d without a word to the
// socket (runc's waits for ever).
func TestNotifySocketSideBySide(t *testing.T) {
	for name, c := range sideBySide(t) {
		t.Run(name, func(t *testing.T) {
			script := "echo $NOTIFY_SOCKET > /dev/shm/env; sdnotify STATUS=starting; sleep 0.5; sdnotify READY=1 STATUS=up; sleep 1000"
			bundle := newBundle(t, spec.WithArgs("sh", "-c", script))
			withSdnotify(t, bundle)

			for _, how := range []string{"run -d", "create, start"} {
				host := newNotifyHost(t)
				id := uniqueID(t)
				start := time.Now()
				if how == "run -d" {
					if r, _ := runWithNotify(t, c, host.path, "run", "-d", "-b", bundle, id); r.Code != 0 {
						t.Fatalf("%s: exit %d: %s", how, r.Code, r.Stderr)
					}
				} else {
					if r, _ := runWithNotify(t, c, host.path, "create", "-b", bundle, id); r.Code != 0 {
						t.Fatalf("create: exit %d: %s", r.Code, r.Stderr)
					}
					if got := host.got(); len(got) != 0 {
						t.Errorf("%s: the socket got %q before start", how, got)
					}
					if r, _ := runWithNotify(t, c, host.path, "start", id); r.Code != 0 {
						t.Fatalf("start: exit %d: %s", r.Code, r.Stderr)
					}
				}
				took := time.Since(start)
				pid := c.state(id).Pid
				want := []string{"READY=1", "MAINPID=" + strconv.Itoa(pid), "BARRIER=1"}
				if got := host.got(); strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("%s: the socket got %q, want %q", how, got, want)
				}
				if took < 500*time.Millisecond {
					t.Errorf("%s returned after %v, before the container's READY (0.5 s in)", how, took)
				}
				if env := strings.TrimSpace(c.ok("exec", id, "cat", "/dev/shm/env")); env != "/run/notify/notify.sock" {
					t.Errorf("%s: the container's NOTIFY_SOCKET is %q", how, env)
				}
				c.ok("delete", "--force", id)
			}

			// In the foreground the runtime itself is the main process.
			host := newNotifyHost(t)
			fg := newBundle(t, spec.WithArgs("sh", "-c", "sdnotify READY=1; sleep 0.5"))
			withSdnotify(t, fg)
			r, cliPid := runWithNotify(t, c, host.path, "run", "-b", fg, uniqueID(t))
			want := []string{"READY=1", "MAINPID=" + strconv.Itoa(cliPid), "BARRIER=1"}
			if got := host.got(); r.Code != 0 || strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("foreground run: exit %d (%s); the socket got %q, want %q", r.Code, r.Stderr, got, want)
			}

			// No READY: berth's run -d returns when the container has
			// gone. runc v1.5.2's waits for ever: the init, its child,
			// stays a zombie, and runc looks only for /proc/<pid>.
			if name == "runc" {
				return
			}
			host = newNotifyHost(t)
			quiet := newBundle(t, spec.WithArgs("sh", "-c", "sleep 0.3"))
			id := uniqueID(t)
			if r, _ := runWithNotify(t, c, host.path, "run", "-d", "-b", quiet, id); r.Code != 0 {
				t.Errorf("run -d of a container that never says READY: exit %d: %s", r.Code, r.Stderr)
			}
			if got := host.got(); len(got) != 0 {
				t.Errorf("without READY the socket got %q", got)
			}
			c.ok("delete", "--force", id)
		})
	}
}
