package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-oci/berth/spec"
)

// startForeground starts `berth run` in the foreground and waits until its
// container is running.
func startForeground(t *testing.T, c *cli, bundle, id string) (*exec.Cmd, *os.File) {
	t.Helper()
	out := tempFile(t)
	cmd := exec.Command(c.bin, "--root", c.root, "run", "--bundle", bundle, id)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(c.root, id, "state.json")); err == nil {
			if r := c.run(nil, "state", id); r.Code == 0 && strings.Contains(r.Stdout, `"running"`) {
				return cmd, out
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s never ran; output: %s", id, readBack(t, out))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKillForeground kills a foreground container with `berth kill`: the
// foreground run exits 128+9 and deletes the container.
func TestKillForeground(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	bundle := newBundle(t, spec.WithArgs("sleep", "100"))
	id := uniqueID(t)
	cmd, _ := startForeground(t, c, bundle, id)
	pid := c.state(id).Pid
	c.ok("kill", id, "KILL")
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 137 {
		t.Fatalf("run exited %d (%v), want 137", code, err)
	}
	assertGone(t, c.root, id, bundle, pid)
}

// TestSignalForwarding sends SIGTERM to a foreground `berth run`: it is
// forwarded to the container, whose trap exits 42.
func TestSignalForwarding(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	bundle := newBundle(t, spec.WithArgs("sh", "-c", `trap "echo got TERM; exit 42" TERM; while true; do sleep 0.05; done`))
	id := uniqueID(t)
	cmd, out := startForeground(t, c, bundle, id)
	waitSignalHandled(t, c.state(id).Pid, syscall.SIGTERM)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 42 {
		t.Fatalf("run exited %d, want 42; output: %s", code, readBack(t, out))
	}
	if got := readBack(t, out); !strings.Contains(got, "got TERM") {
		t.Fatalf("output %q lacks the trap's message", got)
	}
	assertGone(t, c.root, id, bundle, 0)
}
