// Package mainthread runs work on the daemon's main OS thread.
//
// The daemon's main OS thread runs what must be done by a thread that
// outlives every other: the clone of a pod's holder, whose parent-death
// signal fires when the thread that cloned it ends (shim/sandbox),
// and the exec of an in-place upgrade, which ends every thread but the
// one that calls it (shim/upgrade). A holder cloned by the main thread
// therefore survives the upgrade, and dies only with the daemon.
package mainthread

import "runtime"

func init() {
	// The main goroutine stays on the main thread: the daemon hands it
	// the work below once it is set up (Serve).
	runtime.LockOSThread()
}

var mainThreadWork = make(chan func())

// Do runs f on the main thread, while the daemon waits there (Serve),
// and returns once f has.
func Do(f func()) {
	done := make(chan struct{})
	mainThreadWork <- func() { f(); close(done) }
	<-done
}

// Serve runs, on the calling (main) goroutine, the work sent to the main
// thread, until stop is closed.
func Serve(stop <-chan struct{}) {
	for {
		select {
		case f := <-mainThreadWork:
			f()
		case <-stop:
			return
		}
	}
}
