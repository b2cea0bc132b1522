package upgrade

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/ttrpc"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/shim/internal/handover"
	"github.com/berth-oci/berth/shim/internal/mainthread"
)

// Env, in a daemon's environment, names the fd of the state an
// earlier image of it handed over (upgrade.go): set only across the
// re-exec of an in-place upgrade.
const Env = "BERTH_SHIM_HANDOVER"

// upgradeStepTimeout bounds each wait of an upgrade: for the requests
// under way to be answered, the exit handlers to finish, a stdio copy to
// park, an event delivery to end. Past it the upgrade is given up and the
// daemon serves on.
const upgradeStepTimeout = 10 * time.Second

// waitMethods are the requests that may be left unanswered at a handover:
// the next image reads them again and answers them. They wait for an exit
// and change nothing.
var waitMethods = map[string]bool{
	"containerd.task.v2.Task/Wait":                      true,
	"containerd.task.v3.Task/Wait":                      true,
	"containerd.runtime.sandbox.v1.Sandbox/WaitSandbox": true,
}

// Upgrader moves a serving daemon onto the binary now at its path, in
// place (SIGHUP): the same pid, so the containers stay its children; the
// listener and containerd's connections inherited, each at a message
// boundary; the requests under way answered, but the Waits, which the next
// image answers; the tasks, the undelivered events and the pins handed
// over as JSON in a memfd (Env). A new binary that does not start
// (-v) or an exec that fails leaves this image serving.
type Upgrader struct {
	exe      string
	listener *Listener
	// handlers are the server's running handlers: those of a connection
	// its client closed run on, with no request left to show for them.
	handlers *Inflight
	// parts are what the daemon serves, each handed over by itself.
	parts Parts

	mu sync.Mutex // one upgrade at a time
	// generation counts the images this daemon has run before this one.
	generation int
}

// lastUpgradeError is the last upgrade's error, empty if it succeeded or
// none was tried: the daemon's stats report it.
var lastUpgradeError struct {
	sync.Mutex
	msg string
}

func setUpgradeError(err error) {
	lastUpgradeError.Lock()
	defer lastUpgradeError.Unlock()
	lastUpgradeError.msg = ""
	if err != nil {
		lastUpgradeError.msg = err.Error()
	}
}

// LastError is why the last upgrade was given up, empty if it succeeded
// or none was tried: the daemon's stats report it.
func LastError() string {
	lastUpgradeError.Lock()
	defer lastUpgradeError.Unlock()
	return lastUpgradeError.msg
}

// selfExe is the daemon's binary path: where a new binary is put to
// upgrade it (by rename, so the running one is not written).
func selfExe() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(exe, " (deleted)"), nil
}

// Upgrade re-executes the daemon onto the binary at its path. It returns
// only if the upgrade was given up, the daemon serving on; LastError
// reports that error until the next upgrade.
func (u *Upgrader) Upgrade(ctx context.Context) error {
	err := u.upgrade(ctx)
	setUpgradeError(err)
	return err
}

func (u *Upgrader) upgrade(ctx context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := checkNewBinary(ctx, u.exe); err != nil {
		return err
	}
	var undo undoStack
	giveUp := func(err error) error {
		undo.run()
		return fmt.Errorf("upgrade given up, serving on: %w", err)
	}
	conns, err := u.quiesce(&undo)
	if err != nil {
		return giveUp(err)
	}
	var fds handover.FDSet
	state, err := u.collect(&undo, &fds, conns)
	if err != nil {
		return giveUp(err)
	}
	memfd, err := writeState(state)
	if err != nil {
		return giveUp(err)
	}
	undo.push(func() { memfd.Close() })
	memfdNum, err := fds.Add(memfd)
	if err != nil {
		return giveUp(err)
	}
	if err := fds.Inherit(true); err != nil {
		return giveUp(err)
	}
	undo.push(func() { _ = fds.Inherit(false) })
	env := append(os.Environ(), Env+"="+strconv.Itoa(memfdNum))
	logrus.Infof("upgrade: re-executing %s (generation %d, %d tasks, %d connections)", u.exe, state.Generation, len(state.Tasks), len(state.Conns))
	// From the main thread, which the exec keeps: the pod holders it
	// cloned keep their parent, so their parent-death signal stays quiet.
	mainthread.Do(func() { err = syscall.Exec(u.exe, os.Args, env) })
	return giveUp(fmt.Errorf("exec %s: %w", u.exe, err))
}

// undoStack is what a given-up upgrade undoes, last step first.
type undoStack []func()

func (s *undoStack) push(f func()) { *s = append(*s, f) }

func (s undoStack) run() {
	for i := len(s) - 1; i >= 0; i-- {
		s[i]()
	}
}

// quiesce stops the daemon at a point it can be handed over from:
// containerd's connections frozen at a message boundary with only Waits
// under way, the reaper held, and no exit handler running.
func (u *Upgrader) quiesce(undo *undoStack) ([]*handoverConn, error) {
	conns := u.listener.freeze()
	undo.push(func() { u.listener.thaw(conns) })
	if err := waitOnlyWaits(conns, u.handlers, upgradeStepTimeout); err != nil {
		return nil, err
	}
	undo.push(berth.HoldReaping())
	if !u.parts.Tasks.WaitExits(upgradeStepTimeout) {
		return nil, errors.New("exit handlers still running")
	}
	return conns, nil
}

// collect gathers the state the next image takes: the service's tasks,
// pods and pins (stdio copies parked), the undelivered events, the
// connections and the listener, their files added to fds.
func (u *Upgrader) collect(undo *undoStack, fds *handover.FDSet, conns []*handoverConn) (*State, error) {
	state, resume, err := u.parts.handover(fds, time.Now().Add(upgradeStepTimeout))
	undo.push(resume)
	if err != nil {
		return nil, err
	}
	state.Generation = u.generation + 1
	queued, ok := u.parts.Events.Hold(upgradeStepTimeout)
	undo.push(u.parts.Events.Release)
	if !ok {
		return nil, errors.New("an event delivery to containerd still under way")
	}
	state.Events = queued
	for _, c := range conns {
		ho, err := c.freezeWrites()
		if errors.Is(err, errConnGone) {
			continue // its client went: nothing to hand over
		}
		if err != nil {
			return nil, err
		}
		undo.push(func() { ho.file.Close() })
		fd, err := fds.Add(ho.file)
		if err != nil {
			return nil, err
		}
		state.Conns = append(state.Conns, connState{Fd: fd, Requeue: ho.requeue, Carry: ho.carry})
	}
	lf, err := u.listener.file()
	if err != nil {
		return nil, err
	}
	undo.push(func() { lf.Close() })
	if state.Listener, err = fds.Add(lf); err != nil {
		return nil, err
	}
	return state, nil
}

// checkNewBinary runs the new binary's -v: one that does not start is
// not executed in place of the daemon.
func checkNewBinary(ctx context.Context, exe string) error {
	ctx, cancel := context.WithTimeout(ctx, upgradeStepTimeout)
	defer cancel()
	// The daemon's reaper takes every child's exit (wait4(-1)); held,
	// it leaves this one to CombinedOutput's wait, and reaps the others
	// that exit meanwhile once released.
	release := berth.HoldReaping()
	out, err := exec.CommandContext(ctx, exe, "-v").CombinedOutput()
	release()
	if err != nil {
		return fmt.Errorf("upgrade refused: the new binary %s does not start: %w: %s", exe, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// waitOnlyWaits waits until the frozen connections' unanswered requests
// are only Waits, and so are the running handlers (a handler runs on when
// its client closes the connection).
func waitOnlyWaits(conns []*handoverConn, handlers *Inflight, timeout time.Duration) error {
	var busy []string
	onlyWaits := pollUntil(timeout, 5*time.Millisecond, func() bool {
		busy = nil
		for _, c := range conns {
			for _, m := range c.unansweredMethods() {
				if !waitMethods[m] {
					busy = append(busy, m)
				}
			}
		}
		for _, m := range handlers.runningExcept(waitMethods) {
			busy = append(busy, "handler "+m)
		}
		return len(busy) == 0
	})
	if !onlyWaits {
		return fmt.Errorf("requests still under way after %s: %s", timeout, strings.Join(busy, ", "))
	}
	return nil
}

// writeState writes the state to a memfd, rewound for the next image.
func writeState(state *State) (*os.File, error) {
	data, err := json.Marshal(state)
	if err != nil {
		return nil, err
	}
	fd, err := unix.MemfdCreate("berth-shim-handover", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd for the handover: %w", err)
	}
	f := os.NewFile(uintptr(fd), "handover")
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, 0); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ReadState reads the state an earlier image handed over, if this image
// was started by an upgrade, and clears Env.
func ReadState() (*State, error) {
	v, ok := os.LookupEnv(Env)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(Env)
	fd, err := strconv.Atoi(v)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w", Env, v, err)
	}
	f := os.NewFile(uintptr(fd), "handover")
	defer f.Close()
	var state State
	if err := json.NewDecoder(f).Decode(&state); err != nil {
		return nil, fmt.Errorf("handover state: %w", err)
	}
	return &state, nil
}

// New is the daemon's upgrader. In an upgraded image it first
// takes back what the earlier image handed over: the undelivered events,
// then the tasks, adopted as the reaper starts so that no exit is missed.
func New(l *Listener, handlers *Inflight, parts Parts, handed *State) (*Upgrader, error) {
	up := &Upgrader{listener: l, handlers: handlers, parts: parts}
	var err error
	if up.exe, err = selfExe(); err != nil {
		return nil, err
	}
	if handed != nil {
		up.generation = handed.Generation
		parts.Events.Requeue(handed.Events)
		if err := berth.StartReaperAdopting(func() error { return parts.Adopt(handed) }); err != nil {
			logrus.WithError(err).Error("upgrade: the tasks handed over were not all adopted")
		}
		logrus.Infof("upgrade: serving as generation %d, %d tasks adopted", handed.Generation, len(handed.Tasks))
	}
	generation.Store(int64(up.generation))
	return up, nil
}

// generation is the daemon's image count: 0 until an upgrade (stats).
var generation atomic.Int64

// InheritedConns are the connections an earlier image handed over.
func InheritedConns(handed *State) ([]*handoverConn, error) {
	if handed == nil {
		return nil, nil
	}
	var out []*handoverConn
	for _, cs := range handed.Conns {
		f := os.NewFile(uintptr(cs.Fd), "connection")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("connection handed over: %w", err)
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			c.Close()
			return nil, fmt.Errorf("connection handed over: not a unix socket")
		}
		out = append(out, newHandoverConn(uc, cs.Requeue, cs.Carry, nil))
	}
	return out, nil
}

// Handshaker checks a connection's peer as inner does, on the
// socket under the handoverConn, and gives the server the handoverConn.
type Handshaker struct{ Inner ttrpc.Handshaker }

func (h Handshaker) Handshake(ctx context.Context, conn net.Conn) (net.Conn, any, error) {
	hc, ok := conn.(*handoverConn)
	if !ok {
		return h.Inner.Handshake(ctx, conn)
	}
	_, info, err := h.Inner.Handshake(ctx, hc.raw)
	if err != nil {
		return nil, nil, err
	}
	return hc, info, nil
}

// Generation is how many upgrades the daemon's image has been through: 0
// for a daemon as start launched it.
func Generation() int64 { return generation.Load() }
