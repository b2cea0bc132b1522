package busybox

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// sdnotifyDir is the directory SdnotifyBinary built into, once it has.
var sdnotifyDir atomic.Pointer[string]

// SdnotifyBinary builds integration/cmd/sdnotify (systemd-notify's part
// the tests need: a datagram to $NOTIFY_SOCKET), static, once per process,
// with the go of BERTH_GO (set by make) or go on PATH, and returns its path.
// A test package that calls it runs its tests with RunTests, which
// removes it.
var SdnotifyBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "berth-sdnotify-")
	if err != nil {
		return "", err
	}
	sdnotifyDir.Store(&dir)
	// Anyone may run it: podman's containers see it through a bind mount.
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	goBin := os.Getenv("BERTH_GO")
	if goBin == "" {
		goBin = "go"
	}
	bin := filepath.Join(dir, "sdnotify")
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", bin, "github.com/berth-oci/berth/integration/cmd/sdnotify")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build sdnotify: %v: %s", err, out)
	}
	return bin, nil
})

// RunTests runs a test package's tests (TestMain's m.Run) and then
// removes what SdnotifyBinary built, if it built anything; TestMain exits
// with its result.
func RunTests(m *testing.M) int {
	defer func() {
		if dir := sdnotifyDir.Load(); dir != nil {
			_ = os.RemoveAll(*dir)
		}
	}()
	return m.Run()
}
