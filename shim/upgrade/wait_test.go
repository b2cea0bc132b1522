package upgrade

import (
	"strings"
	"testing"
	"time"
)

// TestWaitOnlyWaits: an upgrade goes on while the only running handlers
// are Waits, and is held up by any other, even one whose connection is
// gone (no frozen connection shows it).
func TestWaitOnlyWaits(t *testing.T) {
	for _, tc := range []struct {
		name    string
		running []string
		busy    string // in the error; empty: no error
	}{
		{"nothing running", nil, ""},
		{"a task Wait", []string{"containerd.task.v2.Task/Wait"}, ""},
		{"a v3 Wait and a WaitSandbox", []string{"containerd.task.v3.Task/Wait", "containerd.runtime.sandbox.v1.Sandbox/WaitSandbox"}, ""},
		{"a Create", []string{"containerd.task.v2.Task/Create"}, "handler containerd.task.v2.Task/Create"},
		{"a Wait and a Delete", []string{"containerd.task.v2.Task/Wait", "containerd.task.v2.Task/Delete"}, "handler containerd.task.v2.Task/Delete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewInflight()
			for _, m := range tc.running {
				defer h.Begin(m)()
			}
			err := waitOnlyWaits(nil, h, 20*time.Millisecond)
			switch {
			case tc.busy == "" && err != nil:
				t.Errorf("held up: %v", err)
			case tc.busy != "" && (err == nil || !strings.Contains(err.Error(), tc.busy)):
				t.Errorf("error %v, want one naming %q", err, tc.busy)
			}
		})
	}
}
