package runtime

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// oomStep sets the cgroup's kill counter, then sends notifications.
type oomStep struct {
	kills    uint64
	notified int
}

func TestOOMWatch(t *testing.T) {
	tests := []struct {
		name string
		// before is the counter when the watch starts.
		before uint64
		steps  []oomStep
		// countErr makes the counter unreadable from the start;
		// goneAtEnd makes it unreadable once the steps are done.
		countErr, goneAtEnd bool
		// goneFirst makes the counter unreadable after the watch's first
		// look: the systemd driver's scope went with its last process.
		goneFirst bool
		// finish ends the watch with the notification channel still
		// open; late notifications arrive within the grace period.
		finish bool
		late   int
		// afterGone notifications come once the cgroup is gone at the
		// end: the storm's tail, after the scope went with the kill.
		afterGone int
		// later moves the watch's clock on before the afterGone
		// notifications: the cgroup went long after the kill reported.
		later bool
		want  int
	}{
		{name: "one per kill", steps: []oomStep{{1, 1}, {2, 1}}, want: 2},
		{name: "a storm of notifications for one kill", steps: []oomStep{{1, 9}}, want: 1},
		{name: "a storm over two kills", steps: []oomStep{{1, 5}, {2, 256}}, want: 2},
		{name: "missed kills from the count", steps: []oomStep{{1, 1}, {3, 0}}, want: 3},
		{name: "kills before the watch not reported", before: 4, steps: []oomStep{{5, 1}}, want: 1},
		{name: "notification with no kill", steps: []oomStep{{0, 3}}, want: 0},
		{name: "count unreadable: one per notification", countErr: true, steps: []oomStep{{0, 2}}, want: 2},
		{name: "cgroup gone at the end", steps: []oomStep{{1, 2}}, goneAtEnd: true, want: 1},
		{name: "notifications after the cgroup went, the kill reported", steps: []oomStep{{1, 1}}, goneAtEnd: true, afterGone: 3, want: 1},
		{name: "a look with nothing new, then the cgroup gone", steps: []oomStep{{1, 1}, {1, 2}}, goneAtEnd: true, afterGone: 1, want: 1},
		{name: "the cgroup gone long after a reported kill: a kill of its own", steps: []oomStep{{1, 1}}, goneAtEnd: true, later: true, afterGone: 2, want: 2},
		{name: "cgroup gone before the first look", goneFirst: true, steps: []oomStep{{1, 3}}, want: 1},
		{name: "finish looks at late notifications", steps: []oomStep{{1, 1}}, finish: true, late: 1, want: 1},
		{name: "finish reconciles", steps: []oomStep{{1, 1}, {3, 0}}, finish: true, want: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var kills atomic.Uint64
			var gone atomic.Bool
			kills.Store(tc.before)
			gone.Store(tc.countErr)
			count := func() (uint64, error) {
				if gone.Load() {
					return 0, errors.New("cgroup gone")
				}
				return kills.Load(), nil
			}
			notify := make(chan struct{})
			w := chanWatch(notify, count)
			var offset atomic.Int64
			w.kills.mu.Lock()
			w.kills.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
			w.kills.mu.Unlock()
			var got atomic.Int64
			done := make(chan struct{})
			go func() {
				for range w.C {
					got.Add(1)
				}
				close(done)
			}()
			if tc.goneFirst {
				gone.Store(true)
			}
			for _, s := range tc.steps {
				if !tc.countErr {
					kills.Store(s.kills)
				}
				for i := 0; i < s.notified; i++ {
					notify <- struct{}{}
				}
			}
			if tc.goneAtEnd {
				// Let the rechecks see the counter first.
				waitEvents(t, &got, int64(min(tc.want, 1)))
				if tc.later {
					offset.Store(int64(time.Minute))
				}
				gone.Store(true)
				for i := 0; i < tc.afterGone; i++ {
					notify <- struct{}{}
				}
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
			if got.Load() != int64(tc.want) {
				t.Fatalf("%d OOM events, want %d", got.Load(), tc.want)
			}
		})
	}
}

// TestOOMWatchKillCountedLate: on cgroup v1 the notification comes before
// the kill is counted; the kill is reported by a recheck, while the
// container runs on and no other notification comes.
func TestOOMWatchKillCountedLate(t *testing.T) {
	var kills atomic.Uint64
	notify := make(chan struct{})
	w := chanWatch(notify, func() (uint64, error) { return kills.Load(), nil })
	notify <- struct{}{}
	time.Sleep(5 * time.Millisecond)
	kills.Store(1)
	select {
	case <-w.C:
	case <-time.After(3 * time.Second):
		t.Fatal("a kill counted after its notification was not reported")
	}
	close(notify)
	for range w.C {
		t.Fatal("a second event for one kill")
	}
}

func waitEvents(t *testing.T, got *atomic.Int64, want int64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for got.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d OOM events after 3s, want %d", got.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// chanWatch is WatchOOM's watch on a notification channel of the test's.
func chanWatch(notify <-chan struct{}, count func() (uint64, error)) *OOMWatch {
	out := make(chan struct{})
	w := newOOMWatch(notify, count, func() { out <- struct{}{} }, func() { close(out) })
	w.C = out
	return w
}

// TestOOMWatchSync: a kill counted before Sync is reported by the time it
// returns, before anything the caller does next (the shim's exit event),
// and only once; Sync after the end does nothing.
func TestOOMWatchSync(t *testing.T) {
	var kills atomic.Uint64
	var mu sync.Mutex
	var log []string
	record := func(what string) {
		mu.Lock()
		defer mu.Unlock()
		log = append(log, what)
	}
	notify := make(chan struct{})
	w := newOOMWatch(notify, func() (uint64, error) { return kills.Load(), nil }, func() { record("oom") }, func() { record("end") })
	notify <- struct{}{} // the notification comes before the kill is counted
	kills.Store(1)
	w.Sync()
	record("exit")
	time.Sleep(1200 * time.Millisecond) // past every recheck
	close(notify)
	deadline := time.Now().Add(3 * time.Second)
	for {
		mu.Lock()
		got := strings.Join(log, " ")
		mu.Unlock()
		if got == "oom exit end" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reports %q, want %q", got, "oom exit end")
		}
		time.Sleep(10 * time.Millisecond)
	}
	kills.Store(2)
	w.Sync()
	mu.Lock()
	defer mu.Unlock()
	if len(log) != 3 {
		t.Fatalf("Sync after the end reported: %v", log)
	}
}
