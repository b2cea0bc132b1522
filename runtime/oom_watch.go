package runtime

import (
	"sync"
	"time"
)

// OOMWatch delivers one value on C per OOM kill in a container: the
// kernel's notifications as they come, then, once they end, one for each
// kill the cgroup's count shows they missed (cgroup v2 coalesces
// memory.events changes, and an exit can overtake them). C is closed when
// the watch ends. The shim and `berth events` both report through it.
type OOMWatch struct {
	// C receives a value per OOM kill; drain it until it is closed.
	C      <-chan struct{}
	finish chan time.Duration
	once   sync.Once
}

// WatchOOM starts an OOMWatch. It ends by itself when the kernel's
// notifications end (the cgroup emptied or went away), or by Finish.
func (c *Container) WatchOOM() (*OOMWatch, error) {
	notify, err := c.OOM()
	if err != nil {
		return nil, err
	}
	return newOOMWatch(notify, c.OOMKillCount), nil
}

func newOOMWatch(notify <-chan struct{}, count func() (uint64, error)) *OOMWatch {
	out := make(chan struct{})
	w := &OOMWatch{C: out, finish: make(chan time.Duration, 1)}
	// Kills before the watch are not reported.
	seen, _ := count()
	go func() {
		defer close(out)
		seen += relayOOM(notify, w.finish, out)
		n, err := count()
		for ; err == nil && seen < n; seen++ {
			out <- struct{}{}
		}
	}()
	return w
}

// relayOOM passes notifications on until notify is closed or, after a
// finish request, until a grace period passes without one. It returns how
// many it passed on.
func relayOOM(notify <-chan struct{}, finish <-chan time.Duration, out chan<- struct{}) (n uint64) {
	var grace <-chan time.Time
	var graceLen time.Duration
	for {
		select {
		case _, ok := <-notify:
			if !ok {
				return n
			}
			n++
			out <- struct{}{}
			if grace != nil {
				grace = time.After(graceLen)
			}
		case graceLen = <-finish:
			finish = nil
			grace = time.After(graceLen)
		case <-grace:
			return n
		}
	}
}

// Finish ends the watch once the container has stopped: notifications
// still arriving within grace of each other are delivered, then the
// missed kills, then C is closed. It is safe to call more than once.
func (w *OOMWatch) Finish(grace time.Duration) {
	w.once.Do(func() { w.finish <- grace })
}
