package upgrade

import (
	"slices"
	"testing"
	"time"
)

// TestInflight: wait returns once the last running handler has ended, and
// gives up after its timeout while one still runs.
func TestInflight(t *testing.T) {
	f := NewInflight()
	if !f.Wait(0) {
		t.Fatal("no handler runs, yet wait gave up")
	}
	end1, end2 := f.Begin("s/A"), f.Begin("s/B")
	if f.Wait(10 * time.Millisecond) {
		t.Fatal("wait returned with two handlers running")
	}
	end1()
	done := make(chan bool)
	go func() { done <- f.Wait(5 * time.Second) }()
	time.Sleep(20 * time.Millisecond)
	end2()
	if !<-done {
		t.Fatal("wait gave up after the last handler ended")
	}
}

// TestInflightRunningExcept: the running handlers are listed by method,
// once per handler, less the skipped methods, and leave the list as they
// end.
func TestInflightRunningExcept(t *testing.T) {
	f := NewInflight()
	skip := map[string]bool{"s/Wait": true}
	endA1, endA2, endW := f.Begin("s/A"), f.Begin("s/A"), f.Begin("s/Wait")
	for _, tc := range []struct {
		name string
		end  func()
		want []string
	}{
		{"two A and a Wait", func() {}, []string{"s/A", "s/A"}},
		{"one A ended", endA1, []string{"s/A"}},
		{"both A ended", endA2, nil},
		{"the Wait ended", endW, nil},
	} {
		tc.end()
		if got := f.runningExcept(skip); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if !f.Wait(0) {
		t.Error("wait gave up with no handler running")
	}
}
