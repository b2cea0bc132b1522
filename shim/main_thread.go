package shim

import "runtime"

// The daemon's main OS thread runs what must be done by a thread that
// outlives every other: the clone of a pod's holder, whose parent-death
// signal fires when the thread that cloned it ends (sandbox_holder.go),
// and the exec of an in-place upgrade, which ends every thread but the
// one that calls it (upgrade.go). A holder cloned by the main thread
// therefore survives the upgrade, and dies only with the daemon.

func init() {
	// The main goroutine stays on the main thread: serve hands it the
	// work below once it is set up.
	runtime.LockOSThread()
}

var mainThreadWork = make(chan func())

// onMainThread runs f on the main thread, while serve waits there
// (serveMainThread), and returns once f has.
func onMainThread(f func()) {
	done := make(chan struct{})
	mainThreadWork <- func() { f(); close(done) }
	<-done
}

// serveMainThread runs, on the calling (main) goroutine, the work sent
// to the main thread, until stop is closed.
func serveMainThread(stop <-chan struct{}) {
	for {
		select {
		case f := <-mainThreadWork:
			f()
		case <-stop:
			return
		}
	}
}
