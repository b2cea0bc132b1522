package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/shim/events"
	"github.com/berth-oci/berth/shim/internal/handover"
)

// HandoverEnv, in a daemon's environment, names the fd of the state an
// earlier image of it handed over (upgrade.go): set only across the
// re-exec of an in-place upgrade.
const HandoverEnv = "BERTH_SHIM_HANDOVER"

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

// upgrader moves a serving daemon onto the binary now at its path, in
// place (SIGHUP): the same pid, so the containers stay its children; the
// listener and containerd's connections inherited, each at a message
// boundary; the requests under way answered, but the Waits, which the next
// image answers; the tasks, the undelivered events and the pins handed
// over as JSON in a memfd (HandoverEnv). A new binary that does not start
// (-v) or an exec that fails leaves this image serving.
type upgrader struct {
	exe      string
	listener *handoverListener
	svc      *service
	// handlers are the server's running handlers: those of a connection
	// its client closed run on, with no request left to show for them.
	handlers *inflight
	// events is the daemon's event queue, held and handed over.
	events *events.Publisher

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

func upgradeError() string {
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

// upgrade re-executes the daemon onto the binary at its path. It returns
// only if the upgrade was given up, the daemon serving on.
func (u *upgrader) upgrade(ctx context.Context) error {
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
	memfd, err := writeHandover(state)
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
	env := append(os.Environ(), HandoverEnv+"="+strconv.Itoa(memfdNum))
	logrus.Infof("upgrade: re-executing %s (generation %d, %d tasks, %d connections)", u.exe, state.Generation, len(state.Tasks), len(state.Conns))
	// From the main thread, which the exec keeps: the pod holders it
	// cloned keep their parent, so their parent-death signal stays quiet.
	onMainThread(func() { err = syscall.Exec(u.exe, os.Args, env) })
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
func (u *upgrader) quiesce(undo *undoStack) ([]*handoverConn, error) {
	conns := u.listener.freeze()
	undo.push(func() { u.listener.thaw(conns) })
	if err := waitOnlyWaits(conns, u.handlers, upgradeStepTimeout); err != nil {
		return nil, err
	}
	undo.push(berth.HoldReaping())
	done := make(chan struct{})
	go func() { u.svc.exits.Wait(); close(done) }()
	select {
	case <-done:
		return conns, nil
	case <-time.After(upgradeStepTimeout):
		return nil, errors.New("exit handlers still running")
	}
}

// collect gathers the state the next image takes: the service's tasks,
// pods and pins (stdio copies parked), the undelivered events, the
// connections and the listener, their files added to fds.
func (u *upgrader) collect(undo *undoStack, fds *handover.FDSet, conns []*handoverConn) (*handoverState, error) {
	state, resume, err := u.svc.handover(fds, time.Now().Add(upgradeStepTimeout))
	undo.push(resume)
	if err != nil {
		return nil, err
	}
	state.Generation = u.generation + 1
	queued, ok := u.events.Hold(upgradeStepTimeout)
	undo.push(u.events.Release)
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
func waitOnlyWaits(conns []*handoverConn, handlers *inflight, timeout time.Duration) error {
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

// handover describes the daemon's tasks, pod sandboxes and pins for the
// next image, the stdio copies parked; resume undoes the parking.
func (s *service) handover(fds *handover.FDSet, deadline time.Time) (*handoverState, func(), error) {
	s.mu.Lock()
	if s.retired || len(s.creating) > 0 {
		s.mu.Unlock()
		return nil, func() {}, handover.Refused{Why: "the daemon is retiring or creating a task"}
	}
	state := &handoverState{Pins: map[string]time.Time{}}
	for id, expiry := range s.pins {
		state.Pins[id] = expiry
	}
	tasks := make([]*task, 0, len(s.tasks))
	for _, t := range s.tasks {
		tasks = append(tasks, t)
	}
	sandboxes := make([]*podSandbox, 0, len(s.sandboxes))
	for _, sb := range s.sandboxes {
		sandboxes = append(sandboxes, sb)
	}
	s.mu.Unlock()
	for _, sb := range sandboxes {
		st, err := sb.handover()
		if err != nil {
			return nil, func() {}, err
		}
		state.Sandboxes = append(state.Sandboxes, st)
	}
	var parked []*task
	resume := func() {
		for _, t := range parked {
			t.resumeCopies()
		}
	}
	for _, t := range tasks {
		parked = append(parked, t)
		ts, err := t.handover(fds, deadline)
		if err != nil {
			return nil, resume, err
		}
		state.Tasks = append(state.Tasks, ts)
	}
	return state, resume, nil
}

// handover describes a started pod sandbox for the next image.
func (sb *podSandbox) handover() (sandboxState, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.pid == 0 {
		return sandboxState{}, handover.Refused{Why: fmt.Sprintf("pod sandbox %s is created and not started", sb.id)}
	}
	return sandboxState{ID: sb.id, Bundle: sb.bundle, Netns: sb.netns, Dir: sb.files.dir, Volatile: sb.files.volatile,
		Pid: sb.pid, CreatedAt: sb.createdAt, Exit: sb.exit}, nil
}

// handover parks the task's stdio copies and describes it.
func (t *task) handover(fds *handover.FDSet, deadline time.Time) (taskState, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.processesLocked() {
		if err := p.stdio.ParkCopies(deadline); err != nil {
			return taskState{}, fmt.Errorf("process %s: %w", p.name(), err)
		}
	}
	return t.handoverLocked(fds)
}

func (t *task) resumeCopies() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.processesLocked() {
		p.stdio.ResumeCopies()
	}
}

// processesLocked are the init and the execs. The caller holds t.mu.
func (t *task) processesLocked() []*process {
	out := []*process{t.init}
	for _, p := range t.execs {
		out = append(out, p)
	}
	return out
}

// writeHandover writes the state to a memfd, rewound for the next image.
func writeHandover(state *handoverState) (*os.File, error) {
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

// readHandover reads the state an earlier image handed over, if this image
// was started by an upgrade, and clears HandoverEnv.
func readHandover() (*handoverState, error) {
	v, ok := os.LookupEnv(HandoverEnv)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(HandoverEnv)
	fd, err := strconv.Atoi(v)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w", HandoverEnv, v, err)
	}
	f := os.NewFile(uintptr(fd), "handover")
	defer f.Close()
	var state handoverState
	if err := json.NewDecoder(f).Decode(&state); err != nil {
		return nil, fmt.Errorf("handover state: %w", err)
	}
	return &state, nil
}
