package crienv

import (
	"path/filepath"
	"testing"

	"github.com/berth-oci/berth/internal/testutil"
)

// ConfigFromEnv is the configuration the lanes' make targets describe in
// their environment (CRI_ENV): the runtimes, crane, the CNI plugins, Go
// and busybox, with the containerd binary and its runc shim named by the
// variables containerd and shimRunc, and containerd's configuration
// version. A variable not set, or naming no file, fails the test.
func ConfigFromEnv(tb testing.TB, containerd, shimRunc string, configVersion int) Config {
	tb.Helper()
	env := func(name string) string { return testutil.Binary(tb, name, "") }
	return Config{
		Containerd:    env(containerd),
		ShimDir:       filepath.Dir(env(shimRunc)),
		ConfigVersion: configVersion,
		Runc:          env("RUNC_BINARY"),
		BerthShim:     env("BERTH_SHIM"),
		Crane:         env("CRANE"),
		CNIBinDir:     env("CNI_BIN_DIR"),
		GoBin:         env("BERTH_GO"),
		BusyboxRoot:   env("BUSYBOX_DYNAMIC_ROOT"),
	}
}
