package shim

import (
	"sync"
	"time"
)

// inflight counts the requests whose handlers are running, so that a
// daemon that retires (in the middle of the Shutdown that retired it)
// stops serving only once they have returned.
type inflight struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed while n is 0; a new one once n rises
}

func newInflight() *inflight {
	z := make(chan struct{})
	close(z)
	return &inflight{zero: z}
}

// begin records a request's start; the returned func records its end.
func (f *inflight) begin() func() {
	f.mu.Lock()
	if f.n == 0 {
		f.zero = make(chan struct{})
	}
	f.n++
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.n--
		if f.n == 0 {
			close(f.zero)
		}
		f.mu.Unlock()
	}
}

// wait waits until no handler runs, or timeout has passed, and reports
// whether none runs.
func (f *inflight) wait(timeout time.Duration) bool {
	f.mu.Lock()
	z := f.zero
	f.mu.Unlock()
	select {
	case <-z:
		return true
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-z:
		return true
	case <-t.C:
		return false
	}
}
