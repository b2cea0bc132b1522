package runtime

import (
	"errors"
	"testing"
	"time"
)

func TestOOMWatch(t *testing.T) {
	tests := []struct {
		name string
		// before is the cgroup's count when the watch starts, after when
		// the notifications end.
		before, after uint64
		countErr      bool
		notified      int
		// finish ends the watch with the notification channel still
		// open; late notifications arrive within the grace period.
		finish bool
		late   int
		want   int
	}{
		{name: "notifications only", after: 2, notified: 2, want: 2},
		{name: "missed kills from the count", after: 3, notified: 1, want: 3},
		{name: "kills before the watch not reported", before: 4, after: 5, notified: 1, want: 1},
		{name: "count unreadable", countErr: true, notified: 2, want: 2},
		{name: "finish delivers late notifications", after: 2, notified: 1, finish: true, late: 1, want: 2},
		{name: "finish reconciles", after: 3, notified: 1, finish: true, want: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			count := func() (uint64, error) {
				calls++
				if tc.countErr {
					return 0, errors.New("cgroup gone")
				}
				if calls == 1 {
					return tc.before, nil
				}
				return tc.after, nil
			}
			notify := make(chan struct{})
			w := newOOMWatch(notify, count)
			got := 0
			done := make(chan struct{})
			go func() {
				for range w.C {
					got++
				}
				close(done)
			}()
			for i := 0; i < tc.notified; i++ {
				notify <- struct{}{}
			}
			if tc.finish {
				w.Finish(200 * time.Millisecond)
				w.Finish(time.Hour) // a second call changes nothing
				for i := 0; i < tc.late; i++ {
					notify <- struct{}{}
				}
			} else {
				close(notify)
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the watch did not end")
			}
			if got != tc.want {
				t.Fatalf("%d OOM events, want %d", got, tc.want)
			}
		})
	}
}
