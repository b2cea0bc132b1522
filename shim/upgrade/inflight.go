package upgrade

import (
	"slices"
	"sync"
	"time"
)

// Inflight counts the requests whose handlers are running, so that a
// daemon that retires (in the middle of the Shutdown that retired it)
// stops serving only once they have returned, and an upgrade starts only
// once no handler but a Wait runs (whether or not its client is still
// connected).
type Inflight struct {
	mu      sync.Mutex
	n       int
	zero    chan struct{}  // closed while n is 0; a new one once n rises
	methods map[string]int // the running handlers by "service/method"
}

func NewInflight() *Inflight {
	z := make(chan struct{})
	close(z)
	return &Inflight{zero: z, methods: map[string]int{}}
}

// Begin records the start of a request for method ("service/method"); the
// returned func records its end.
func (f *Inflight) Begin(method string) func() {
	f.mu.Lock()
	if f.n == 0 {
		f.zero = make(chan struct{})
	}
	f.n++
	f.methods[method]++
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.n--
		if f.n == 0 {
			close(f.zero)
		}
		if f.methods[method]--; f.methods[method] == 0 {
			delete(f.methods, method)
		}
		f.mu.Unlock()
	}
}

// runningExcept lists the methods of the running handlers that are not in
// skip, a method once per handler, sorted.
func (f *Inflight) runningExcept(skip map[string]bool) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for m, n := range f.methods {
		if !skip[m] {
			for range n {
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Wait waits until no handler runs, or timeout has passed, and reports
// whether none runs.
func (f *Inflight) Wait(timeout time.Duration) bool {
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
