package shim

import (
	"runtime/debug"
	"time"
)

// idleScavenger returns memory to the kernel once the daemon has been idle
// for a while after requests: a shim spends its life waiting, and what a
// create or exec allocated is garbage by then. One goroutine per daemon,
// none per container.
type idleScavenger struct {
	kick chan struct{}
}

// scavengeAfter is how long the daemon must be idle before scavenging.
const scavengeAfter = time.Second

func newIdleScavenger() *idleScavenger {
	s := &idleScavenger{kick: make(chan struct{}, 1)}
	go s.run()
	return s
}

// touch records activity; it never blocks.
func (s *idleScavenger) touch() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *idleScavenger) run() {
	for range s.kick {
		t := time.NewTimer(scavengeAfter)
	idle:
		for {
			select {
			case <-s.kick:
				t.Reset(scavengeAfter)
			case <-t.C:
				break idle
			}
		}
		debug.FreeOSMemory()
	}
}
