// Package busybox builds OCI bundles whose root filesystem is Debian's
// statically linked busybox (package busybox-static), for tests, examples
// and demos.
package busybox

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-oci/berth/spec"
)

// Binary is where Debian's busybox-static installs busybox.
const Binary = "/bin/busybox"

// MakeRootfs fills dir with a minimal root filesystem: busybox, a link for
// each of its applets in /bin, and the directories and /etc files a
// container expects.
func MakeRootfs(dir string) error {
	if err := checkStatic(); err != nil {
		return err
	}
	for _, d := range []string{"bin", "dev", "etc", "proc", "sys", "tmp", "root", "run", "var"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	data, err := os.ReadFile(Binary)
	if err != nil {
		return fmt.Errorf("read %s (install busybox-static): %w", Binary, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), data, 0o755); err != nil {
		return err
	}
	out, err := exec.Command(Binary, "--list").Output()
	if err != nil {
		return fmt.Errorf("%s --list: %w", Binary, err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		link := filepath.Join(dir, "bin", applet)
		if err := os.Symlink("busybox", link); err != nil && !os.IsExist(err) {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":    "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
		"etc/hostname": "berth\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func checkStatic() error {
	out, err := exec.Command("file", "-L", Binary).Output()
	if err != nil {
		// file(1) may be missing; the bundle still works if busybox is static.
		_, serr := os.Stat(Binary)
		if serr != nil {
			return fmt.Errorf("%s: %w (install busybox-static)", Binary, serr)
		}
		return nil
	}
	if !strings.Contains(string(out), "statically linked") && !strings.Contains(string(out), "static-pie") {
		return fmt.Errorf("%s is not statically linked (install busybox-static)", Binary)
	}
	return nil
}

// MakeBundle creates an OCI bundle in dir: a busybox rootfs in dir/rootfs
// and a config.json from spec.New with the options applied.
func MakeBundle(dir string, opts ...spec.Option) error {
	if err := MakeRootfs(filepath.Join(dir, "rootfs")); err != nil {
		return err
	}
	return WriteSpec(dir, opts...)
}

// WriteSpec (re)writes dir/config.json from spec.New with the options applied.
func WriteSpec(dir string, opts ...spec.Option) error {
	data, err := json.MarshalIndent(spec.New(opts...), "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, spec.ConfigName), data, 0o644)
}

// NewTestBundle makes a bundle in a temporary directory of the test.
func NewTestBundle(tb testing.TB, opts ...spec.Option) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := MakeBundle(dir, opts...); err != nil {
		tb.Fatalf("make bundle: %v", err)
	}
	return dir
}
