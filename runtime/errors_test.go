package runtime

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/runc/libcontainer"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		in   error
		kind error
	}{
		{libcontainer.ErrNotExist, ErrNotFound},
		{fmt.Errorf("wrapped: %w", libcontainer.ErrExist), ErrExists},
		{libcontainer.ErrInvalidID, ErrInvalid},
		{libcontainer.ErrRunning, ErrWrongState},
		{libcontainer.ErrNotRunning, ErrWrongState},
		{libcontainer.ErrPaused, ErrWrongState},
		{libcontainer.ErrNotPaused, ErrWrongState},
	}
	for _, tc := range tests {
		err := opError("op", "id", classify(tc.in))
		if !errors.Is(err, tc.kind) || !errors.Is(err, tc.in) {
			t.Errorf("%v: kind lost (%v)", tc.in, err)
		}
		if err.Error() != "op id: "+tc.in.Error() {
			t.Errorf("message %q changed", err.Error())
		}
	}
	other := errors.New("boom")
	if classify(other) != other {
		t.Error("unrelated error changed")
	}
	if errorf(ErrExists, "x %d", 1).Error() != "x 1" {
		t.Error("errorf repeats the kind")
	}
	long := strings.Repeat("y", 100)
	if msg := opError("run", long, other).Error(); strings.Contains(msg, long) {
		t.Errorf("long id not shortened: %q", msg)
	}
}
