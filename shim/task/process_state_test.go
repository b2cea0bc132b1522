package task

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	taskv3 "github.com/berth-oci/berth/shim/internal/taskapi"
	"github.com/berth-oci/berth/shim/stdio"
	eventstypes "github.com/containerd/containerd/api/events"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	berth "github.com/berth-oci/berth/runtime"
)

var allStates = []processState{stateCreated, stateRunning, stateExitHeld, stateStopped, stateDeleted}

// TestTransitions: exactly the moves in the table are allowed.
func TestTransitions(t *testing.T) {
	allowed := map[[2]processState]bool{
		{stateCreated, stateRunning}: true, {stateCreated, stateStopped}: true, {stateCreated, stateDeleted}: true,
		{stateRunning, stateExitHeld}: true, {stateRunning, stateStopped}: true,
		{stateExitHeld, stateStopped}: true,
		{stateStopped, stateDeleted}:  true,
	}
	for _, from := range allStates {
		for _, to := range allStates {
			p := &process{taskID: "t", state: from}
			err := p.transition(to)
			if allowed[[2]processState{from, to}] {
				if err != nil || p.state != to {
					t.Errorf("%s -> %s: %v, state %s", from, to, err, p.state)
				}
			} else if !errors.Is(err, errdefs.ErrFailedPrecondition) || p.state != from {
				t.Errorf("%s -> %s: %v, state %s; want refused", from, to, err, p.state)
			}
		}
	}
}

// TestRules: which request each state takes, for init and for an exec.
func TestRules(t *testing.T) {
	ok, pre, gone := error(nil), errdefs.ErrFailedPrecondition, errdefs.ErrNotFound
	type want struct{ start, signal, delete, resize, hostExecs, checkpoint error }
	tests := []struct {
		state      processState
		init, exec want
	}{
		{stateCreated, want{ok, ok, ok, ok, ok, pre}, want{ok, pre, ok, ok, ok, pre}},
		{stateRunning, want{pre, ok, pre, ok, ok, ok}, want{pre, ok, pre, ok, ok, ok}},
		{stateExitHeld, want{pre, gone, pre, ok, pre, pre}, want{pre, gone, pre, pre, pre, pre}},
		{stateStopped, want{pre, gone, ok, ok, pre, pre}, want{pre, gone, ok, pre, pre, pre}},
		{stateDeleted, want{pre, gone, pre, pre, pre, pre}, want{pre, gone, pre, pre, pre, pre}},
	}
	check := func(t *testing.T, name string, got, want error) {
		t.Helper()
		if want == nil && got != nil || want != nil && !errors.Is(got, want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	for _, tc := range tests {
		for _, kind := range []string{"init", "exec"} {
			t.Run(tc.state.String()+"/"+kind, func(t *testing.T) {
				p := &process{taskID: "t", state: tc.state}
				w := tc.init
				if kind == "exec" {
					p.id, w = "e1", tc.exec
				}
				check(t, "start", p.canStart(), w.start)
				check(t, "signal", p.canSignal(), w.signal)
				check(t, "delete", p.canDelete(), w.delete)
				check(t, "resize", p.canResize(), w.resize)
				check(t, "host execs", p.canHostExecs(), w.hostExecs)
				check(t, "checkpoint", p.canCheckpoint(), w.checkpoint)
			})
		}
	}
}

// testService is a service whose events are kept, not sent.
func testService() *Service {
	return NewService(Config{Namespace: "ns", Events: &recordedEvents{}, Keeper: testKeeper{}})
}

// testKeeper keeps no books: the tests' daemon never retires.
type testKeeper struct{}

func (testKeeper) Hold(string) error { return nil }
func (testKeeper) Release(string)    {}
func (testKeeper) Unpin(string)      {}
func (testKeeper) MaybeRetire()      {}

// recordedEvents is a Publisher that keeps what it is given.
type recordedEvents struct {
	mu     sync.Mutex
	topics []string
	events []proto.Message
}

func (r *recordedEvents) Publish(topic string, event proto.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.topics = append(r.topics, topic)
	r.events = append(r.events, event)
}

func (s *Service) topics() []string {
	r := s.Events.(*recordedEvents)
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.topics)
}

// taskWithExec registers task "t" (init running, no container) with exec
// "e1" in state st.
func taskWithExec(s *Service, st processState) (*task, *process) {
	t := &task{id: "t", execs: map[string]*process{}, env: s.env()}
	t.init = newProcess("t", "")
	t.init.state, t.init.stdio = stateRunning, &stdio.Stdio{}
	p := newProcess("t", "e1")
	p.state, p.stdio = st, &stdio.Stdio{}
	if st == stateStopped || st == stateExitHeld || st == stateDeleted {
		p.exit = &berth.ExitStatus{Code: 3, ExitedAt: time.Now()}
	}
	t.execs["e1"] = p
	s.tasks["t"] = t
	return t, p
}

// TestExecRequestsInEveryState drives the requests that touch only the
// shim's own state (no container is needed) against an exec in each state.
func TestExecRequestsInEveryState(t *testing.T) {
	ctx := context.Background()
	type want struct {
		status         tasktypes.Status
		delete, resize error
		kill           error // only where no process is signalled
	}
	pre, gone := errdefs.ErrFailedPrecondition, errdefs.ErrNotFound
	tests := []struct {
		state processState
		want  want
	}{
		{stateCreated, want{tasktypes.Status_CREATED, nil, nil, pre}},
		{stateRunning, want{tasktypes.Status_RUNNING, pre, nil, nil}},
		{stateStopped, want{tasktypes.Status_STOPPED, nil, pre, gone}},
	}
	is := func(got, want error) bool {
		return want == nil && got == nil || want != nil && errors.Is(errgrpc.ToNative(got), want)
	}
	for _, tc := range tests {
		t.Run(tc.state.String(), func(t *testing.T) {
			s := testService()
			_, p := taskWithExec(s, tc.state)
			st, err := s.State(ctx, &taskv3.StateRequest{ID: "t", ExecID: "e1"})
			if err != nil || st.Status != tc.want.status {
				t.Errorf("state: %v %v, want %v", st.GetStatus(), err, tc.want.status)
			}
			if _, err := s.ResizePty(ctx, &taskv3.ResizePtyRequest{ID: "t", ExecID: "e1", Width: 80, Height: 24}); !is(err, tc.want.resize) {
				t.Errorf("resize: %v, want %v", err, tc.want.resize)
			}
			if _, err := s.CloseIO(ctx, &taskv3.CloseIORequest{ID: "t", ExecID: "e1", Stdin: true}); err != nil {
				t.Errorf("close io: %v", err)
			}
			if tc.state != stateRunning {
				if _, err := s.Kill(ctx, &taskv3.KillRequest{ID: "t", ExecID: "e1", Signal: 15}); !is(err, tc.want.kill) {
					t.Errorf("kill: %v, want %v", err, tc.want.kill)
				}
			}
			if tc.state != stateCreated { // starting one needs a container
				if _, err := s.Start(ctx, &taskv3.StartRequest{ID: "t", ExecID: "e1"}); !is(err, pre) {
					t.Errorf("start: %v, want failed precondition", err)
				}
			}
			if _, err := s.Delete(ctx, &taskv3.DeleteRequest{ID: "t", ExecID: "e1"}); !is(err, tc.want.delete) {
				t.Errorf("delete: %v, want %v", err, tc.want.delete)
			}
			if tc.want.delete == nil && p.state != stateDeleted {
				t.Errorf("deleted exec is %s", p.state)
			}
		})
	}
}

// TestInitExitHeldForExecs: init's exit waits for its running execs', and
// the two are published exec first.
func TestInitExitHeldForExecs(t *testing.T) {
	s := testService()
	tk, e := taskWithExec(s, stateRunning)
	tk.handleExit(tk.init, berth.ExitStatus{Code: 137})
	if tk.init.state != stateExitHeld || slices.Contains(s.topics(), topicTaskExit) {
		t.Fatalf("init %s, events %v: its exit must wait for the exec", tk.init.state, s.topics())
	}
	if _, err := s.Kill(context.Background(), &taskv3.KillRequest{ID: "t", Signal: 9}); !errors.Is(errgrpc.ToNative(err), errdefs.ErrNotFound) {
		t.Errorf("kill of held init: %v, want not found", err)
	}
	tk.handleExit(e, berth.ExitStatus{Code: 0})
	if tk.init.state != stateStopped || e.state != stateStopped {
		t.Fatalf("init %s, exec %s after the exec's exit", tk.init.state, e.state)
	}
	var ids []string
	r := s.Events.(*recordedEvents)
	r.mu.Lock()
	for i, topic := range r.topics {
		if topic == topicTaskExit {
			ids = append(ids, r.events[i].(*eventstypes.TaskExit).ID)
		}
	}
	r.mu.Unlock()
	if !slices.Equal(ids, []string{"e1", "t"}) {
		t.Fatalf("exits published for %v, want the exec's then init's", ids)
	}
	select {
	case <-tk.init.exited:
	default:
		t.Error("init's Wait not released")
	}
}

// TestExitBeforeStartReturns: an exec that exits before Start has given it
// its real stdio (Start holds the task's lock meanwhile) must still have
// that stdio drained and closed, or the client never sees EOF (the ExecSync
// hang of issue 11).
func TestExitBeforeStartReturns(t *testing.T) {
	s := testService()
	tk, p := taskWithExec(s, stateCreated)
	// The exec's stdout FIFO, read as a client would: the stdio holds a
	// writer of it until the exit's drain closes its holder.
	fifo := filepath.Join(t.TempDir(), "stdout")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(fifo, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	real, err := stdio.New(stdio.Paths{Stdout: fifo}, stdio.Config{ID: "t", Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	real.CloseContainerSide() // as the exec's start does

	tk.mu.Lock() // Start holds it from before the exec runs
	done := make(chan struct{})
	go func() {
		tk.handleExit(p, berth.ExitStatus{Code: 0}) // the exit, at once
		close(done)
	}()
	time.Sleep(50 * time.Millisecond) // let the handler run as far as it can
	p.stdio = real
	if err := p.transition(stateRunning); err != nil {
		t.Fatal(err)
	}
	tk.mu.Unlock()

	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("exit not handled")
	}
	// The real holder was closed: the reader sees EOF at once.
	if err := r.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %d, %v: the real stdio was not closed", n, err)
	}
	if p.state != stateStopped {
		t.Errorf("exec is %s", p.state)
	}
}

// TestMoveRefusedIsCounted: a move the state table refuses leaves the
// process where it was and is counted (TestMain then fails the package).
func TestMoveRefusedIsCounted(t *testing.T) {
	before := refusedTransitions.Load()
	p := newProcess("t", "")
	p.move(stateRunning)
	p.move(stateStopped)
	p.move(stateRunning) // stopped to running: refused
	if p.state != stateStopped || refusedTransitions.Load() != before+1 {
		t.Fatalf("state %s, %d refusals counted, want stopped and 1", p.state, refusedTransitions.Load()-before)
	}
	refusedTransitions.Add(-1) // this test's own, on purpose
}

// TestTaskWaitsForCreate: a request for a task whose Create is in progress
// waits for it, then finds the task (or not, if the Create failed), and
// gives up with its context.
func TestTaskWaitsForCreate(t *testing.T) {
	svc := testService()
	created := make(chan struct{})
	svc.creating["c1"] = created
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := svc.task(ctx, "c1"); err == nil {
		t.Fatal("found a task still being created")
	}
	got := make(chan error, 1)
	go func() {
		_, err := svc.task(context.Background(), "c1")
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	svc.mu.Lock()
	svc.tasks["c1"] = &task{id: "c1"}
	delete(svc.creating, "c1")
	svc.mu.Unlock()
	close(created)
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("after its Create: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request did not end with the Create")
	}
}

// TestResizeExitedInit: a resize of an init that has exited (nerdctl run -t
// sends one as the container ends) is taken and ignored, as the runc shim
// takes it; an exited exec's is refused, as the runc shim refuses it.
func TestResizeExitedInit(t *testing.T) {
	ctx := context.Background()
	for _, st := range []processState{stateExitHeld, stateStopped} {
		s := testService()
		tk, _ := taskWithExec(s, stateStopped)
		tk.init.state = st
		tk.init.exit = &berth.ExitStatus{Code: 4, ExitedAt: time.Now()}
		if _, err := s.ResizePty(ctx, &taskv3.ResizePtyRequest{ID: "t", Width: 80, Height: 24}); err != nil {
			t.Errorf("init %s: resize: %v", st, err)
		}
		if _, err := s.ResizePty(ctx, &taskv3.ResizePtyRequest{ID: "t", ExecID: "e1", Width: 80, Height: 24}); !errors.Is(errgrpc.ToNative(err), errdefs.ErrFailedPrecondition) {
			t.Errorf("stopped exec: resize: %v, want FailedPrecondition", err)
		}
	}
}
