package runtime

import (
	"errors"
	"testing"
)

// TestStatusRules is the whole table: which operation each status takes.
func TestStatusRules(t *testing.T) {
	all := []Status{Created, Running, Paused, Stopped}
	tests := []struct {
		op      string
		allowed []Status
		takes   []Status
	}{
		{"start", startStatuses, []Status{Created}},
		{"delete without force", deleteStatuses, []Status{Created, Stopped}},
		{"signal all", signalAllStatuses, []Status{Created, Running, Paused}},
		{"exec", execStatuses(false), []Status{Created, Running}},
		{"exec, paused allowed", execStatuses(true), []Status{Created, Running, Paused}},
	}
	for _, tc := range tests {
		for _, s := range all {
			err := requireStatus(tc.op, s, tc.allowed...)
			want := false
			for _, ok := range tc.takes {
				want = want || ok == s
			}
			if want != (err == nil) {
				t.Errorf("%s when %s: %v, want allowed=%v", tc.op, s, err, want)
			}
			if err != nil && !errors.Is(err, ErrWrongState) {
				t.Errorf("%s when %s: %v is not ErrWrongState", tc.op, s, err)
			}
		}
	}
}

// TestCanExecStatusError: CanExec's refusal carries the status, for the
// CLI's wording, and is ErrWrongState.
func TestCanExecStatusError(t *testing.T) {
	for _, tc := range []struct {
		s           Status
		allowPaused bool
		refused     bool
	}{
		{Created, false, false}, {Running, false, false}, {Paused, false, true},
		{Paused, true, false}, {Stopped, false, true}, {Stopped, true, true},
	} {
		err := CanExec(tc.s, tc.allowPaused)
		var se *StatusError
		if tc.refused != (err != nil) || err != nil && (!errors.As(err, &se) || se.Status != tc.s || se.Op != "exec" || !errors.Is(err, ErrWrongState)) {
			t.Errorf("CanExec(%s, paused allowed %v) = %v, want refused=%v with its status", tc.s, tc.allowPaused, err, tc.refused)
		}
	}
}
