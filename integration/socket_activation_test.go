package integration

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-oci/berth/spec"
)

// TestParitySocketActivation: started by systemd's socket activation
// (LISTEN_FDS and LISTEN_PID naming the runtime's own pid, the sockets
// from fd 3), berth gives the container the sockets as its fds 3... and
// LISTEN_FDS=n, LISTEN_PID=1, as runc does; --preserve-fds then counts
// from after them.
func TestParitySocketActivation(t *testing.T) {
	t.Parallel()
	script := `echo "$LISTEN_FDS $LISTEN_PID"; test -S /proc/self/fd/3 && echo fd3-socket; test -e /proc/self/fd/4 && echo fd4-preserved; true`
	eachRuntime(t, "2 1 fd3-socket fd4-preserved", func(t *testing.T, c *cli) string {
		dir, err := os.MkdirTemp("", "berth-sd-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		l, err := net.Listen("unix", filepath.Join(dir, "s"))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		sock, err := l.(*net.UnixListener).File()
		if err != nil {
			t.Fatal(err)
		}
		defer sock.Close()
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		bundle := newBundle(t, spec.WithArgs("sh", "-c", script))
		// systemd sets LISTEN_PID to the pid it execs: sh execs the runtime.
		// Two activation fds (3, 4), then one to preserve (5).
		cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=2 exec "$0" --root "$1" run --preserve-fds 1 -b "$2" "$3"`,
			c.bin, c.root, bundle, uniqueID(t))
		cmd.ExtraFiles = []*os.File{sock, r, w}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "failed: " + err.Error() + ": " + string(out)
		}
		return strings.Join(strings.Fields(string(out)), " ")
	})
}
