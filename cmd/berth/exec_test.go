package main

import (
	"testing"

	berth "github.com/berth-oci/berth/runtime"
)

// TestExecStatusError: the library's refusal of an exec, worded as runc's.
func TestExecStatusError(t *testing.T) {
	for _, tc := range []struct {
		s    berth.Status
		want string
	}{
		{berth.Stopped, "cannot exec in a stopped container"},
		{berth.Paused, "cannot exec in a paused container (use --ignore-paused to override)"},
	} {
		if got := execStatusError(berth.CanExec(tc.s, false)); got == nil || got.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.s, got, tc.want)
		}
	}
}
