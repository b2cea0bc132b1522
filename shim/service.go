package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	taskv3 "github.com/berth-oci/berth/shim/internal/taskapi"
	eventstypes "github.com/containerd/containerd/api/events"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/berth-oci/berth/cgroups"
	"github.com/berth-oci/berth/cgroups/metrics"
	berth "github.com/berth-oci/berth/runtime"
)

// service is the task service: each request becomes one call on berth's
// runtime library. It holds no container state beyond what containerd's
// protocol needs (exec ids, exit statuses, their order).
type service struct {
	namespace string
	events    *publisher
	shutdown  func()

	// stopListening closes the daemon's listener and removes its socket
	// (set by serve; see group.go).
	stopListening func()

	mu       sync.Mutex
	tasks    map[string]*task
	runtimes map[runtimeKey]*berth.Runtime
	pins     map[string]time.Time // container id to pin expiry
	// creating holds the Creates in progress, each closed when it ends:
	// each holds the daemon, however long it takes (a slow hook outlives
	// any pin), and requests for its task wait for it.
	creating map[string]chan struct{}
	retired  bool
	// stdioPipes gives containers pipes rather than the FIFOs and files
	// themselves (StdioEnv); set once, before serving.
	stdioPipes bool
}

var _ taskv3.TTRPCTaskService = (*service)(nil)

func newService(namespace string, events *publisher, shutdown func()) *service {
	return &service{
		namespace: namespace,
		events:    events,
		shutdown:  shutdown,
		tasks:     map[string]*task{},
		runtimes:  map[runtimeKey]*berth.Runtime{},
		pins:      map[string]time.Time{},
		creating:  map[string]chan struct{}{},
	}
}

func (s *service) runtimeFor(root string, systemdCgroup bool) (*berth.Runtime, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := runtimeKey{root: root, systemdCgroup: systemdCgroup}
	if rt := s.runtimes[key]; rt != nil {
		return rt, nil
	}
	rt, err := berth.New(root, berth.WithSystemdCgroup(systemdCgroup))
	if err != nil {
		return nil, err
	}
	s.runtimes[key] = rt
	return rt, nil
}

// runtimeKey tells apart the runtimes of one daemon: a state root and a
// cgroup driver.
type runtimeKey struct {
	root          string
	systemdCgroup bool
}

func (s *service) task(ctx context.Context, id string) (*task, error) {
	s.mu.Lock()
	created, inCreate := s.creating[id]
	t := s.tasks[id]
	s.mu.Unlock()
	if inCreate {
		// A request for a task in the middle of its Create waits for it:
		// containerd restarted during the Create must find the task, not
		// clean up around a create that then registers it after all.
		select {
		case <-created:
		case <-ctx.Done():
			return nil, toGRPC(fmt.Errorf("task %s is being created: %w", id, ctx.Err()))
		}
		s.mu.Lock()
		t = s.tasks[id]
		s.mu.Unlock()
	}
	if t == nil {
		return nil, toGRPC(fmt.Errorf("task %s: %w", id, errdefs.ErrNotFound))
	}
	return t, nil
}

// taskProcess returns a task and one of its processes, locked.
func (s *service) taskProcess(ctx context.Context, id, execID string) (*task, *process, error) {
	t, err := s.task(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	t.mu.Lock()
	p, ok := t.process(execID)
	if !ok {
		t.mu.Unlock()
		return nil, nil, toGRPC(fmt.Errorf("exec %s in task %s: %w", execID, id, errdefs.ErrNotFound))
	}
	return t, p, nil
}

// Create creates a container from the bundle containerd prepared (see
// newTask).
func (s *service) Create(ctx context.Context, req *taskv3.CreateTaskRequest) (_ *taskv3.CreateTaskResponse, retErr error) {
	s.mu.Lock()
	_, exists := s.tasks[req.ID]
	if _, inCreate := s.creating[req.ID]; exists || inCreate {
		s.mu.Unlock()
		return nil, toGRPC(fmt.Errorf("task %s: %w", req.ID, errdefs.ErrAlreadyExists))
	}
	created := make(chan struct{})
	s.creating[req.ID] = created
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.creating, req.ID)
		if retErr != nil {
			delete(s.pins, req.ID)
		}
		s.mu.Unlock()
		close(created)
	}()
	t, err := s.newTask(ctx, req)
	if err != nil {
		return nil, toGRPC(err)
	}
	defer t.mu.Unlock()
	s.mu.Lock()
	s.tasks[req.ID] = t
	delete(s.pins, req.ID)
	s.mu.Unlock()
	s.events.publish(topicTaskCreate, &eventstypes.TaskCreate{
		ContainerID: req.ID,
		Bundle:      req.Bundle,
		Rootfs:      req.Rootfs,
		IO:          &eventstypes.TaskIO{Stdin: req.Stdin, Stdout: req.Stdout, Stderr: req.Stderr, Terminal: req.Terminal},
		Checkpoint:  req.Checkpoint,
		Pid:         uint32(t.init.pid),
	})
	if t.c != nil {
		s.watchOOM(t)
	}
	return &taskv3.CreateTaskResponse{Pid: uint32(t.init.pid)}, nil
}

// Start starts the container's init, or a created exec.
func (s *service) Start(ctx context.Context, req *taskv3.StartRequest) (*taskv3.StartResponse, error) {
	t, p, err := s.taskProcess(ctx, req.ID, req.ExecID)
	if err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	if err := p.canStart(); err != nil {
		return nil, toGRPC(err)
	}
	if p.isInit() {
		// TaskStart is queued before t.mu is released, so the exit handler
		// (which takes t.mu) can never publish TaskExit first.
		if t.restore != nil {
			err = s.restoreInit(ctx, t)
		} else {
			err = t.c.Start(ctx)
		}
		if err != nil {
			return nil, toGRPC(err)
		}
		if err := p.transition(stateRunning); err != nil {
			return nil, toGRPC(err)
		}
		s.events.publish(topicTaskStart, &eventstypes.TaskStart{ContainerID: t.id, Pid: uint32(p.pid)})
		return &taskv3.StartResponse{Pid: uint32(p.pid)}, nil
	}
	if err := t.init.canHostExecs(); err != nil {
		return nil, toGRPC(err)
	}
	stdio, err := newStdio(t.id, s.namespace, p.stdio.paths.stdin, p.stdio.paths.stdout, p.stdio.paths.stderr, p.terminal, t.ioOwner, s.stdioPipes)
	if err != nil {
		return nil, toGRPC(err)
	}
	// The exec may exit before Exec returns: its exit handler waits for
	// t.mu, which is held until p has its real stdio and is running.
	rp, err := t.c.Exec(ctx, p.spec, berth.ExecOpts{
		IO:     stdio.io,
		OnExit: func(es berth.ExitStatus) { go s.handleExit(t, p, es) },
	})
	stdio.closeContainerSide()
	if err != nil {
		stdio.close()
		return nil, toGRPC(err)
	}
	p.stdio, p.rp, p.pid = stdio, rp, rp.Pid()
	if err := p.transition(stateRunning); err != nil {
		return nil, toGRPC(err)
	}
	if p.terminal {
		if err := stdio.terminal.attach(stdio.paths.stdin, stdio.paths.stdout); err != nil {
			_ = rp.Signal(syscall.SIGKILL)
			return nil, toGRPC(err)
		}
	}
	s.events.publish(topicTaskExecStarted, &eventstypes.TaskExecStarted{ContainerID: t.id, ExecID: p.id, Pid: uint32(p.pid)})
	return &taskv3.StartResponse{Pid: uint32(p.pid)}, nil
}

// Delete deletes a stopped (or never started) process.
func (s *service) Delete(ctx context.Context, req *taskv3.DeleteRequest) (*taskv3.DeleteResponse, error) {
	t, p, err := s.taskProcess(ctx, req.ID, req.ExecID)
	if err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	if err := p.canDelete(); err != nil {
		return nil, toGRPC(err)
	}
	var es berth.ExitStatus
	if p.exit != nil {
		es = *p.exit
	}
	if !p.isInit() {
		delete(t.execs, p.id)
		p.stdio.close()
		_ = p.transition(stateDeleted)
		return deleteResponse(p, es), nil
	}
	// A task created from a checkpoint and never started has no container.
	if t.c != nil {
		if err := t.c.Delete(ctx, true); err != nil && !errors.Is(err, berth.ErrNotFound) {
			return nil, toGRPC(err)
		}
	}
	p.stdio.close()
	_ = p.transition(stateDeleted)
	if err := unmountRootfs(filepath.Join(t.bundle, "rootfs")); err != nil {
		logrus.WithError(err).Warnf("unmount rootfs of %s", t.id)
	}
	s.mu.Lock()
	delete(s.tasks, t.id)
	s.mu.Unlock()
	s.events.publish(topicTaskDelete, &eventstypes.TaskDelete{
		ContainerID: t.id,
		ID:          t.id,
		Pid:         uint32(p.pid),
		ExitStatus:  es.ContainerdStatus(),
		ExitedAt:    timestamppb.New(es.ExitedAt),
	})
	return deleteResponse(p, es), nil
}

func deleteResponse(p *process, es berth.ExitStatus) *taskv3.DeleteResponse {
	return &taskv3.DeleteResponse{Pid: uint32(p.pid), ExitStatus: es.ContainerdStatus(), ExitedAt: timestamppb.New(es.ExitedAt)}
}

// Exec records a process to exec; Start runs it.
func (s *service) Exec(ctx context.Context, req *taskv3.ExecProcessRequest) (*emptypb.Empty, error) {
	t, err := s.task(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if req.ExecID == "" {
		return nil, toGRPC(fmt.Errorf("exec id must not be empty: %w", errdefs.ErrInvalidArgument))
	}
	if _, ok := t.execs[req.ExecID]; ok {
		return nil, toGRPC(fmt.Errorf("exec %s in task %s: %w", req.ExecID, t.id, errdefs.ErrAlreadyExists))
	}
	if err := t.init.canHostExecs(); err != nil {
		return nil, toGRPC(err)
	}
	if _, err := t.container("exec"); err != nil {
		return nil, toGRPC(err)
	}
	var ps specs.Process
	if req.Spec == nil || json.Unmarshal(req.Spec.GetValue(), &ps) != nil {
		return nil, toGRPC(fmt.Errorf("exec %s: spec is not an OCI process in JSON: %w", req.ExecID, errdefs.ErrInvalidArgument))
	}
	// The request's terminal wins over the spec's, as in containerd's runc
	// shim: containerd's client sets only the request's.
	ps.Terminal = req.Terminal
	p := newProcess(t.id, req.ExecID)
	p.spec, p.terminal = &ps, req.Terminal
	p.stdio = &stdio{}
	p.stdio.paths.stdin, p.stdio.paths.stdout, p.stdio.paths.stderr = req.Stdin, req.Stdout, req.Stderr
	t.execs[req.ExecID] = p
	s.events.publish(topicTaskExecAdded, &eventstypes.TaskExecAdded{ContainerID: t.id, ExecID: req.ExecID})
	return &emptypb.Empty{}, nil
}

// State reports a process's status and stdio.
func (s *service) State(ctx context.Context, req *taskv3.StateRequest) (*taskv3.StateResponse, error) {
	t, p, err := s.taskProcess(ctx, req.ID, req.ExecID)
	if err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	resp := &taskv3.StateResponse{
		ID:       req.ID,
		Bundle:   t.bundle,
		Pid:      uint32(p.pid),
		Stdin:    p.stdio.paths.stdin,
		Stdout:   p.stdio.paths.stdout,
		Stderr:   p.stdio.paths.stderr,
		Terminal: p.terminal,
		ExecID:   req.ExecID,
		// A process that has not exited shows the zero time.
		ExitedAt: timestamppb.New(time.Time{}),
	}
	switch p.state {
	case stateStopped, stateDeleted:
		resp.Status = tasktypes.Status_STOPPED
		resp.ExitStatus = p.exit.ContainerdStatus()
		resp.ExitedAt = timestamppb.New(p.exit.ExitedAt)
	case stateCreated:
		resp.Status = tasktypes.Status_CREATED
	case stateExitHeld:
		// Its exit is published once its execs' are.
		resp.Status = tasktypes.Status_RUNNING
	case stateRunning:
		resp.Status = tasktypes.Status_RUNNING
		if p.isInit() {
			st, err := t.c.State()
			if err != nil {
				return nil, toGRPC(err)
			}
			if st.Status == berth.Paused {
				resp.Status = tasktypes.Status_PAUSED
			}
		}
	}
	return resp, nil
}

// Wait blocks until the process has exited and its exit was published.
func (s *service) Wait(ctx context.Context, req *taskv3.WaitRequest) (*taskv3.WaitResponse, error) {
	t, p, err := s.taskProcess(ctx, req.ID, req.ExecID)
	if err != nil {
		return nil, err
	}
	t.mu.Unlock()
	select {
	case <-p.exited:
	case <-ctx.Done():
		return nil, toGRPC(ctx.Err())
	}
	t.mu.Lock()
	es := *p.exit
	t.mu.Unlock()
	return &taskv3.WaitResponse{ExitStatus: es.ContainerdStatus(), ExitedAt: timestamppb.New(es.ExitedAt)}, nil
}

// Kill signals init (or all processes), or an exec.
func (s *service) Kill(ctx context.Context, req *taskv3.KillRequest) (*emptypb.Empty, error) {
	t, p, err := s.taskProcess(ctx, req.ID, req.ExecID)
	if err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	if err := p.canSignal(); err != nil {
		return nil, toGRPC(err)
	}
	sig := syscall.Signal(req.Signal)
	if !p.isInit() {
		return &emptypb.Empty{}, toGRPC(p.rp.Signal(sig))
	}
	if t.c == nil {
		// As runc's kill of a container that does not exist yet.
		return nil, toGRPC(fmt.Errorf("task %s is not restored yet: %w", t.id, errdefs.ErrNotFound))
	}
	if err := t.c.Signal(sig, req.All); err != nil {
		if errors.Is(err, berth.ErrWrongState) {
			return nil, toGRPC(fmt.Errorf("process %s already finished: %w", t.id, errdefs.ErrNotFound))
		}
		return nil, toGRPC(err)
	}
	return &emptypb.Empty{}, nil
}

// Pids lists the container's processes; exec'd ones carry their exec id.
func (s *service) Pids(ctx context.Context, req *taskv3.PidsRequest) (*taskv3.PidsResponse, error) {
	t, err := s.task(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c == nil {
		return &taskv3.PidsResponse{}, nil // not restored yet: no process
	}
	pids, err := t.c.Processes()
	if err != nil {
		return nil, toGRPC(err)
	}
	byPid := map[int]string{}
	for id, p := range t.execs {
		if p.state == stateRunning {
			byPid[p.pid] = id
		}
	}
	resp := &taskv3.PidsResponse{}
	for _, pid := range pids {
		info := &tasktypes.ProcessInfo{Pid: uint32(pid)}
		if execID, ok := byPid[pid]; ok {
			a, err := typeurl.MarshalAnyToProto(&runcoptions.ProcessDetails{ExecID: execID})
			if err == nil {
				info.Info = a
			}
		}
		resp.Processes = append(resp.Processes, info)
	}
	return resp, nil
}

// Pause freezes the container.
func (s *service) Pause(ctx context.Context, req *taskv3.PauseRequest) (*emptypb.Empty, error) {
	t, err := s.task(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.container("pause")
	if err != nil {
		return nil, toGRPC(err)
	}
	if err := c.Pause(); err != nil {
		return nil, toGRPC(err)
	}
	s.events.publish(topicTaskPaused, &eventstypes.TaskPaused{ContainerID: t.id})
	return &emptypb.Empty{}, nil
}

// Resume thaws the container.
func (s *service) Resume(ctx context.Context, req *taskv3.ResumeRequest) (*emptypb.Empty, error) {
	t, err := s.task(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.container("resume")
	if err != nil {
		return nil, toGRPC(err)
	}
	if err := c.Resume(); err != nil {
		return nil, toGRPC(err)
	}
	s.events.publish(topicTaskResumed, &eventstypes.TaskResumed{ContainerID: t.id})
	return &emptypb.Empty{}, nil
}

// ResizePty resizes a process's terminal.
func (s *service) ResizePty(ctx context.Context, req *taskv3.ResizePtyRequest) (*emptypb.Empty, error) {
	t, p, err := s.taskProcess(ctx, req.ID, req.ExecID)
	if err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	if err := p.canResize(); err != nil {
		return nil, toGRPC(err)
	}
	if p.stdio.terminal == nil {
		return &emptypb.Empty{}, nil
	}
	return &emptypb.Empty{}, toGRPC(p.stdio.terminal.resize(req.Width, req.Height))
}

// CloseIO closes the shim's end of a process's stdin.
func (s *service) CloseIO(ctx context.Context, req *taskv3.CloseIORequest) (*emptypb.Empty, error) {
	t, p, err := s.taskProcess(ctx, req.ID, req.ExecID)
	if err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	if req.Stdin {
		p.stdio.closeStdin()
	}
	return &emptypb.Empty{}, nil
}

// Update changes the container's resources (an OCI LinuxResources, JSON).
func (s *service) Update(ctx context.Context, req *taskv3.UpdateTaskRequest) (*emptypb.Empty, error) {
	t, err := s.task(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	var res specs.LinuxResources
	if req.Resources == nil || json.Unmarshal(req.Resources.GetValue(), &res) != nil {
		return nil, toGRPC(fmt.Errorf("update %s: resources are not OCI LinuxResources in JSON: %w", req.ID, errdefs.ErrInvalidArgument))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.container("update")
	if err != nil {
		return nil, toGRPC(err)
	}
	return &emptypb.Empty{}, toGRPC(c.Update(&res))
}

// Stats returns cgroup metrics, v1 or v2 as the host has them.
func (s *service) Stats(ctx context.Context, req *taskv3.StatsRequest) (*taskv3.StatsResponse, error) {
	t, err := s.task(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	c, err := t.container("stats")
	if err != nil {
		t.mu.Unlock()
		return nil, toGRPC(err)
	}
	st, err := c.Stats()
	var events cgroups.MemoryEvents
	if err == nil && cgroups.HostMode() == cgroups.V2 {
		var evErr error
		if events, evErr = c.MemoryEvents(); evErr != nil {
			logrus.WithError(evErr).Debugf("stats of %s: no memory events", t.id)
		}
	}
	t.mu.Unlock()
	if err != nil {
		return nil, toGRPC(err)
	}
	var a *anypb.Any
	if cgroups.HostMode() == cgroups.V2 {
		a, err = typeurl.MarshalAnyToProto(metrics.MetricsV2(st, events))
	} else {
		a, err = typeurl.MarshalAnyToProto(metrics.MetricsV1(st))
	}
	if err != nil {
		return nil, toGRPC(err)
	}
	return &taskv3.StatsResponse{Stats: a}, nil
}

// Connect returns the shim's and the task's pids.
func (s *service) Connect(ctx context.Context, req *taskv3.ConnectRequest) (*taskv3.ConnectResponse, error) {
	resp := &taskv3.ConnectResponse{ShimPid: uint32(os.Getpid())}
	// No wait for a Create in progress: the task pid is optional here.
	s.mu.Lock()
	t := s.tasks[req.ID]
	s.mu.Unlock()
	if t != nil {
		t.mu.Lock()
		resp.TaskPid = uint32(t.init.pid)
		t.mu.Unlock()
	}
	return resp, nil
}

// Shutdown retires the daemon once it serves no task and no container is
// about to be created here (see group.go). containerd sends it once it is
// done with container req.ID, so that container's pin goes: a daemon
// started for a create that containerd gave up (it restarted first) then
// leaves at once, not when the pin expires.
func (s *service) Shutdown(ctx context.Context, req *taskv3.ShutdownRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	if _, ok := s.tasks[req.ID]; !ok {
		delete(s.pins, req.ID)
	}
	s.mu.Unlock()
	s.maybeRetire()
	return &emptypb.Empty{}, nil
}
