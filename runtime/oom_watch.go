package runtime

import (
	"sync"
	"time"
)

// OOMWatch reports one OOM kill per kill in a container, counted against
// the kernel's oom_kill counter of the container's cgroup. The kernel's
// notifications only say when to look: cgroup v1 signals every OOM
// condition (several per kill under pressure), and libcontainer's cgroup v2
// watch signals every change of memory.events once a kill has happened, so
// passing them on one for one gave storms of events for a single kill.
// Where the counter cannot be read, each notification counts as one kill.
// The shim and `berth events` both report through it.
type OOMWatch struct {
	// C receives a value per OOM kill, for a watch made by WatchOOM;
	// drain it until it is closed. It is nil for WatchOOMFunc's.
	C      <-chan struct{}
	finish chan time.Duration
	once   sync.Once
	kills  *oomKills
}

// oomRechecks are the delays, after a notification, at which the counter is
// read again: on cgroup v1 the notification comes before the OOM killer has
// chosen its victim, so the kill it announces is counted a moment later.
var oomRechecks = []time.Duration{10 * time.Millisecond, 50 * time.Millisecond, 250 * time.Millisecond, time.Second}

// WatchOOM starts an OOMWatch whose kills arrive on C. It ends by itself
// when the kernel's notifications end (the cgroup emptied or went away), or
// by Finish.
func (c *Container) WatchOOM() (*OOMWatch, error) {
	notify, err := c.OOM()
	if err != nil {
		return nil, err
	}
	out := make(chan struct{})
	w := newOOMWatch(notify, c.OOMKillCount, func() { out <- struct{}{} }, func() { close(out) })
	w.C = out
	return w, nil
}

// WatchOOMFunc starts an OOMWatch that calls onKill once per kill, from its
// own goroutine or from Sync, never two at a time. onKill must not block
// for long, nor call the watch's methods.
func (c *Container) WatchOOMFunc(onKill func()) (*OOMWatch, error) {
	notify, err := c.OOM()
	if err != nil {
		return nil, err
	}
	return newOOMWatch(notify, c.OOMKillCount, onKill, func() {}), nil
}

func newOOMWatch(notify <-chan struct{}, count func() (uint64, error), emit, end func()) *OOMWatch {
	k := &oomKills{count: count, emit: emit, now: time.Now}
	w := &OOMWatch{finish: make(chan time.Duration, 1), kills: k}
	// Kills before the watch are not reported.
	k.seen, k.countErr = count()
	go func() {
		k.relay(notify, w.finish)
		k.mu.Lock()
		defer k.mu.Unlock()
		k.reconcileLocked()
		k.ended = true
		end()
	}()
	return w
}

// Sync looks at the counter now: every kill it shows is reported before
// Sync returns. The shim calls it before it publishes a container's exit,
// so that the OOM event comes first, as containerd's runc shim orders
// them. With a WatchOOM watch, the values go to C: call Sync only while
// another goroutine drains it. After the watch ended it does nothing.
func (w *OOMWatch) Sync() {
	k := w.kills
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.ended {
		k.reconcileLocked()
	}
}

// oomKills turns notifications into kills. mu serializes the looks at
// the counter and the reports.
type oomKills struct {
	count func() (uint64, error)
	emit  func()
	mu    sync.Mutex
	// seen is the counter's value last reported; countErr is set when the
	// counter could not be read at the start, and then each notification
	// is one kill. ended is set once the watch has ended.
	seen     uint64
	countErr error
	ended    bool
	// lastReport is when a kill was last reported; gone is set once a
	// notification was counted as a kill with the counter unreadable.
	// now is the clock (time.Now; the tests' own).
	lastReport time.Time
	gone       bool
	now        func() time.Time
}

// oomStormWindow is how long after a reported kill a notification that
// finds the cgroup gone is taken as the tail of that kill's storm rather
// than a kill of its own. One kill's notifications (memory.events changes
// for oom, oom_kill and max, then the scope's removal) come within
// milliseconds, or some hundreds under emulation.
const oomStormWindow = 2 * time.Second

// reconcileLocked reports one kill per kill counted since the last look,
// and says whether the counter could be read (a counter that cannot be,
// the cgroup gone, adds nothing).
func (k *oomKills) reconcileLocked() bool {
	if k.countErr != nil {
		return false
	}
	n, err := k.count()
	if err != nil {
		return false
	}
	for ; k.seen < n; k.seen++ {
		k.report()
	}
	return true
}

func (k *oomKills) reconcile() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reconcileLocked()
}

// notified handles one notification.
//
// A counter that was readable and no longer is means the cgroup went away
// (the systemd driver's scope is removed as soon as its last process has
// died, which an OOM kill of the init makes a race with the reading). The
// notification then counts as one kill unless a kill was reported within
// oomStormWindow before it (a storm's later notifications, some of which
// read the counter and find nothing new, follow the kill that caused
// them), and only once: a cgroup that is gone has no more kills. A second
// kill within the window of the first, of the cgroup's last process, is
// then not reported: the counter that would tell it apart is gone.
func (k *oomKills) notified() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.countErr != nil {
		k.emit()
		return
	}
	if k.reconcileLocked() || k.gone {
		return
	}
	k.gone = true
	if !k.lastReport.IsZero() && k.now().Sub(k.lastReport) < oomStormWindow {
		return
	}
	k.seen++
	k.report()
}

// report reports one kill. The time is taken before the report goes out:
// emit hands the kill to the receiver, which may act on it (the tests move
// their clock) before emit returns.
func (k *oomKills) report() {
	k.lastReport = k.now()
	k.emit()
}

// relay reads notifications until notify is closed or, after a finish
// request, until a grace period passes without one, looking at the counter
// on each and at oomRechecks after it.
func (k *oomKills) relay(notify <-chan struct{}, finish <-chan time.Duration) {
	var grace, recheck <-chan time.Time
	var graceLen time.Duration
	next := len(oomRechecks)
	for {
		select {
		case _, ok := <-notify:
			if !ok {
				return
			}
			k.notified()
			if grace != nil {
				grace = time.After(graceLen)
			}
			next = 0
			recheck = time.After(oomRechecks[0])
		case <-recheck:
			k.reconcile()
			recheck = nil
			if next++; next < len(oomRechecks) {
				recheck = time.After(oomRechecks[next] - oomRechecks[next-1])
			}
		case graceLen = <-finish:
			finish = nil
			grace = time.After(graceLen)
		case <-grace:
			return
		}
	}
}

// Finish ends the watch once the container has stopped: notifications
// still arriving within grace of each other are looked at, then the
// counter once more, then C is closed. It is safe to call more than once.
func (w *OOMWatch) Finish(grace time.Duration) {
	w.once.Do(func() { w.finish <- grace })
}
