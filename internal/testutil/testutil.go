// Package testutil holds the helpers berth's tests share: the root check,
// finding the binaries under test, unique container ids, pseudo-terminals,
// running a command for its result, side-by-side counts against runc, fd
// passing and subordinate ids (busybox bundles are busybox.NewTestBundle).
// Test code only; it imports nothing of berth's, so any package's tests
// can use it.
package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/console"
)

// RequireRoot skips the test or benchmark, saying why it needs root,
// unless it runs as root.
func RequireRoot(tb testing.TB, why string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root: " + why)
	}
}

// Binary returns the absolute path of the binary named by the environment
// variable env (set by make), or of fallback (relative to the test's
// directory) when env is unset. The test fails if there is no such file.
func Binary(tb testing.TB, env, fallback string) string {
	tb.Helper()
	bin := os.Getenv(env)
	if bin == "" {
		bin = fallback
	}
	if bin == "" {
		tb.Fatalf("%s is not set (run it through make)", env)
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		tb.Fatalf("%s: %v (run it through make, or set %s)", abs, err, env)
	}
	return abs
}

// UniqueID returns a container id made of the test's name and a random
// suffix, at most 49 bytes.
func UniqueID(tb testing.TB) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '-'
	}, tb.Name())
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	return strings.Trim(name, "-") + "-" + hex.EncodeToString(b)
}

// Pty opens a pseudo-terminal: its master, closed when the test ends, and
// its slave, for the caller to hand to a command and close.
func Pty(tb testing.TB) (console.Console, *os.File) {
	tb.Helper()
	master, slavePath, err := console.NewPty()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { master.Close() })
	slave, err := os.OpenFile(slavePath, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return master, slave
}
