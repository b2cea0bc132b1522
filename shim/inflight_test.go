package shim

import (
	"testing"
	"time"
)

// TestInflight: wait returns once the last running handler has ended, and
// gives up after its timeout while one still runs.
func TestInflight(t *testing.T) {
	f := newInflight()
	if !f.wait(0) {
		t.Fatal("no handler runs, yet wait gave up")
	}
	end1, end2 := f.begin(), f.begin()
	if f.wait(10 * time.Millisecond) {
		t.Fatal("wait returned with two handlers running")
	}
	end1()
	done := make(chan bool)
	go func() { done <- f.wait(5 * time.Second) }()
	time.Sleep(20 * time.Millisecond)
	end2()
	if !<-done {
		t.Fatal("wait gave up after the last handler ended")
	}
}
