package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// WithSubids gives user the subordinate uids and gids first to
// first+count-1 in /etc/subuid and /etc/subgid for the test (newuidmap and
// newgidmap read them), and puts the files back as they were when it ends.
// It skips the test where newuidmap is missing.
func WithSubids(tb testing.TB, user string, first, count int) {
	tb.Helper()
	WithSubidsOf(tb, user, user, first, count)
}

// WithSubidsOf is WithSubids with the subordinate gids given to group by
// its name (nerdctl's --userns-remap user:group reads them so).
func WithSubidsOf(tb testing.TB, user, group string, first, count int) {
	tb.Helper()
	if _, err := exec.LookPath("newuidmap"); err != nil {
		tb.Skip("no newuidmap (package uidmap)")
	}
	lines := map[string][]byte{
		"/etc/subuid": []byte(fmt.Sprintf("%s:%d:%d\n", user, first, count)),
		"/etc/subgid": []byte(fmt.Sprintf("%s:%d:%d\n", group, first, count)),
	}
	for _, path := range []string{"/etc/subuid", "/etc/subgid"} {
		line := lines[path]
		old, err := os.ReadFile(path)
		existed := err == nil
		if err != nil && !os.IsNotExist(err) {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, append(bytes.Clone(old), line...), 0o644); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() {
			if existed {
				_ = os.WriteFile(path, old, 0o644)
			} else {
				_ = os.Remove(path)
			}
		})
	}
}
