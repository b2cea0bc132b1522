package task

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/berth-oci/berth/shim/internal/errs"
	taskv3 "github.com/berth-oci/berth/shim/internal/taskapi"
	"github.com/berth-oci/berth/shim/options"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/berth-oci/berth/cgroups"
	"github.com/berth-oci/berth/cgroups/metrics"
	berth "github.com/berth-oci/berth/runtime"
)

// Service is the task service: it dispatches each request to its task's
// method and maps the error once (errs.ToGRPC). It keeps the tasks it
// serves and the Creates in progress; whether the daemon may retire is
// its keeper's (the daemon's books), which each task holds.
type Service struct {
	Config

	mu       sync.Mutex
	tasks    map[string]*task
	runtimes map[runtimeKey]*berth.Runtime
	// creating holds the Creates in progress, each closed when it ends:
	// requests for its task wait for it.
	creating map[string]chan struct{}
	// exits counts the tasks' exit handlers running (task.onExit).
	exits sync.WaitGroup
}

// Keeper is what keeps the daemon serving (its books): each task holds
// it from its Create to its Delete.
type Keeper interface {
	// Hold records that container id holds the daemon, and ends the pin
	// start gave it; it is refused once the daemon has decided to retire.
	Hold(id string) error
	// Release drops id's hold.
	Release(id string)
	// Unpin ends the pin of a container containerd will not create.
	Unpin(id string)
	// MaybeRetire retires the daemon if nothing holds it any more.
	MaybeRetire()
}

// Config is what the daemon sets up once, before serving: never changed
// after, so read without the lock.
type Config struct {
	Namespace string
	Events    Publisher
	Keeper    Keeper
	// StdioPipes gives containers pipes rather than the FIFOs and files
	// themselves (stdio.Env).
	StdioPipes bool
}

var _ taskv3.TTRPCTaskService = (*Service)(nil)

// NewService is the task service of a daemon.
func NewService(cfg Config) *Service {
	return &Service{
		Config:   cfg,
		tasks:    map[string]*task{},
		runtimes: map[runtimeKey]*berth.Runtime{},
		creating: map[string]chan struct{}{},
	}
}

// Register serves the task API, v3 and v2, on the daemon's server.
func (s *Service) Register(server *ttrpc.Server) {
	taskv3.RegisterTTRPCTaskService(server, s)
	registerTaskV2(server, s)
}

// Books are what the daemon's diagnostics report: the tasks served and
// the Creates under way.
func (s *Service) Books() (tasks int, creating []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.creating {
		creating = append(creating, id)
	}
	return len(s.tasks), creating
}

// WaitExits waits, up to timeout, until no exit handler runs; it reports
// whether none does.
func (s *Service) WaitExits(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { s.exits.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (s *Service) task(ctx context.Context, id string) (*task, error) {
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
			return nil, errs.ToGRPC(fmt.Errorf("task %s is being created: %w", id, ctx.Err()))
		}
		s.mu.Lock()
		t = s.tasks[id]
		s.mu.Unlock()
	}
	if t == nil {
		return nil, errs.ToGRPC(fmt.Errorf("task %s: %w", id, errdefs.ErrNotFound))
	}
	return t, nil
}

// onTask runs f on task id and maps its error: the whole of a request that
// answers nothing.
func (s *Service) onTask(ctx context.Context, id string, f func(*task) error) (*emptypb.Empty, error) {
	t, err := s.task(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := f(t); err != nil {
		return nil, errs.ToGRPC(err)
	}
	return &emptypb.Empty{}, nil
}

// env is what the daemon gives each of its tasks.
func (s *Service) env() taskEnv {
	return taskEnv{events: s.Events, namespace: s.Namespace, stdioPipes: s.StdioPipes, exits: &s.exits}
}

// Create creates a container from the bundle containerd prepared (see
// newTask). While it runs, the id is held in s.creating: a second Create
// is refused, and other requests for the id wait for it (see task).
func (s *Service) Create(ctx context.Context, req *taskv3.CreateTaskRequest) (_ *taskv3.CreateTaskResponse, retErr error) {
	s.mu.Lock()
	_, exists := s.tasks[req.ID]
	if _, inCreate := s.creating[req.ID]; exists || inCreate {
		s.mu.Unlock()
		return nil, errs.ToGRPC(fmt.Errorf("task %s: %w", req.ID, errdefs.ErrAlreadyExists))
	}
	if err := s.Keeper.Hold(req.ID); err != nil {
		s.mu.Unlock()
		return nil, errs.ToGRPC(fmt.Errorf("task %s: %w: %w", req.ID, err, errdefs.ErrUnavailable))
	}
	created := make(chan struct{})
	s.creating[req.ID] = created
	s.mu.Unlock()
	var t *task
	defer func() {
		s.mu.Lock()
		delete(s.creating, req.ID)
		if t != nil {
			s.tasks[req.ID] = t
		} else {
			s.Keeper.Release(req.ID)
		}
		s.mu.Unlock()
		close(created)
	}()
	opts, err := createOptions(req)
	if err != nil {
		return nil, errs.ToGRPC(err)
	}
	rt, err := s.runtimeFor(options.StateRootFor(req.Bundle, s.Namespace, opts), opts.SystemdCgroup)
	if err != nil {
		return nil, errs.ToGRPC(err)
	}
	if t, err = newTask(ctx, s.env(), rt, opts, req); err != nil {
		return nil, errs.ToGRPC(err)
	}
	return &taskv3.CreateTaskResponse{Pid: uint32(t.initPid())}, nil
}

// Start starts the container's init, or a created exec.
func (s *Service) Start(ctx context.Context, req *taskv3.StartRequest) (*taskv3.StartResponse, error) {
	t, err := s.task(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	pid, err := t.start(ctx, req.ExecID)
	if err != nil {
		return nil, errs.ToGRPC(err)
	}
	return &taskv3.StartResponse{Pid: uint32(pid)}, nil
}

// Delete deletes a stopped (or never started) process; the init's takes
// the task with it.
func (s *Service) Delete(ctx context.Context, req *taskv3.DeleteRequest) (*taskv3.DeleteResponse, error) {
	t, err := s.task(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	d, err := t.delete(ctx, req.ExecID)
	if err != nil {
		return nil, errs.ToGRPC(err)
	}
	if d.isInit {
		s.mu.Lock()
		delete(s.tasks, req.ID)
		s.mu.Unlock()
		s.Keeper.Release(req.ID)
	}
	return &taskv3.DeleteResponse{Pid: uint32(d.pid), ExitStatus: d.status.ContainerdStatus(), ExitedAt: timestamppb.New(d.status.ExitedAt)}, nil
}

// Exec records a process to exec; Start runs it.
func (s *Service) Exec(ctx context.Context, req *taskv3.ExecProcessRequest) (*emptypb.Empty, error) {
	var ps specs.Process
	if req.Spec == nil || json.Unmarshal(req.Spec.GetValue(), &ps) != nil {
		return nil, errs.ToGRPC(fmt.Errorf("exec %s: spec is not an OCI process in JSON: %w", req.ExecID, errdefs.ErrInvalidArgument))
	}
	return s.onTask(ctx, req.ID, func(t *task) error {
		return t.addExec(req.ExecID, ps, req.Terminal, req.Stdin, req.Stdout, req.Stderr)
	})
}

// State reports a process's status and stdio.
func (s *Service) State(ctx context.Context, req *taskv3.StateRequest) (*taskv3.StateResponse, error) {
	t, err := s.task(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	resp, err := t.state(req.ExecID)
	return resp, errs.ToGRPC(err)
}

// Wait blocks until the process has exited and its exit was published.
func (s *Service) Wait(ctx context.Context, req *taskv3.WaitRequest) (*taskv3.WaitResponse, error) {
	t, err := s.task(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	es, err := t.wait(ctx, req.ExecID)
	if err != nil {
		return nil, errs.ToGRPC(err)
	}
	return &taskv3.WaitResponse{ExitStatus: es.ContainerdStatus(), ExitedAt: timestamppb.New(es.ExitedAt)}, nil
}

// Kill signals init (or all processes), or an exec.
func (s *Service) Kill(ctx context.Context, req *taskv3.KillRequest) (*emptypb.Empty, error) {
	return s.onTask(ctx, req.ID, func(t *task) error { return t.kill(req.ExecID, syscall.Signal(req.Signal), req.All) })
}

// Pids lists the container's processes; exec'd ones carry their exec id.
func (s *Service) Pids(ctx context.Context, req *taskv3.PidsRequest) (*taskv3.PidsResponse, error) {
	t, err := s.task(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	pids, err := t.pids()
	if err != nil {
		return nil, errs.ToGRPC(err)
	}
	resp := &taskv3.PidsResponse{}
	for _, p := range pids {
		info := &tasktypes.ProcessInfo{Pid: uint32(p.pid)}
		if p.execID != "" {
			if a, err := typeurl.MarshalAnyToProto(&runcoptions.ProcessDetails{ExecID: p.execID}); err == nil {
				info.Info = a
			}
		}
		resp.Processes = append(resp.Processes, info)
	}
	return resp, nil
}

// Pause freezes the container.
func (s *Service) Pause(ctx context.Context, req *taskv3.PauseRequest) (*emptypb.Empty, error) {
	return s.onTask(ctx, req.ID, (*task).pause)
}

// Resume thaws the container.
func (s *Service) Resume(ctx context.Context, req *taskv3.ResumeRequest) (*emptypb.Empty, error) {
	return s.onTask(ctx, req.ID, (*task).resume)
}

// Checkpoint saves the task's processes with CRIU (see checkpointOptions).
func (s *Service) Checkpoint(ctx context.Context, req *taskv3.CheckpointTaskRequest) (*emptypb.Empty, error) {
	opts, err := checkpointOptions(req)
	if err != nil {
		return nil, errs.ToGRPC(err)
	}
	return s.onTask(ctx, req.ID, func(t *task) error { return t.checkpoint(ctx, opts) })
}

// ResizePty resizes a process's terminal.
func (s *Service) ResizePty(ctx context.Context, req *taskv3.ResizePtyRequest) (*emptypb.Empty, error) {
	return s.onTask(ctx, req.ID, func(t *task) error { return t.resize(req.ExecID, req.Width, req.Height) })
}

// CloseIO closes the shim's end of a process's stdin.
func (s *Service) CloseIO(ctx context.Context, req *taskv3.CloseIORequest) (*emptypb.Empty, error) {
	return s.onTask(ctx, req.ID, func(t *task) error {
		if !req.Stdin {
			return nil
		}
		return t.closeStdin(req.ExecID)
	})
}

// Update changes the container's resources (an OCI LinuxResources, JSON).
func (s *Service) Update(ctx context.Context, req *taskv3.UpdateTaskRequest) (*emptypb.Empty, error) {
	var res specs.LinuxResources
	if req.Resources == nil || json.Unmarshal(req.Resources.GetValue(), &res) != nil {
		return nil, errs.ToGRPC(fmt.Errorf("update %s: resources are not OCI LinuxResources in JSON: %w", req.ID, errdefs.ErrInvalidArgument))
	}
	return s.onTask(ctx, req.ID, func(t *task) error { return t.update(&res) })
}

// Stats returns cgroup metrics, v1 or v2 as the host has them.
func (s *Service) Stats(ctx context.Context, req *taskv3.StatsRequest) (*taskv3.StatsResponse, error) {
	t, err := s.task(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	st, events, err := t.stats()
	if err != nil {
		return nil, errs.ToGRPC(err)
	}
	var a *anypb.Any
	if cgroups.HostMode() == cgroups.V2 {
		a, err = typeurl.MarshalAnyToProto(metrics.MetricsV2(st, events))
	} else {
		a, err = typeurl.MarshalAnyToProto(metrics.MetricsV1(st))
	}
	if err != nil {
		return nil, errs.ToGRPC(err)
	}
	return &taskv3.StatsResponse{Stats: a}, nil
}

// Connect returns the shim's and the task's pids.
func (s *Service) Connect(ctx context.Context, req *taskv3.ConnectRequest) (*taskv3.ConnectResponse, error) {
	resp := &taskv3.ConnectResponse{ShimPid: uint32(os.Getpid())}
	// No wait for a Create in progress: the task pid is optional here.
	s.mu.Lock()
	t := s.tasks[req.ID]
	s.mu.Unlock()
	if t != nil {
		resp.TaskPid = uint32(t.initPid())
	}
	return resp, nil
}

// Shutdown retires the daemon once it serves no task and no container is
// about to be created here (the keeper's rules). containerd sends it once
// it is done with container req.ID, so that container's pin goes: a
// daemon started for a create that containerd gave up (it restarted
// first) then leaves at once, not when the pin expires.
func (s *Service) Shutdown(ctx context.Context, req *taskv3.ShutdownRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	_, ok := s.tasks[req.ID]
	s.mu.Unlock()
	if !ok {
		s.Keeper.Unpin(req.ID)
	}
	s.Keeper.MaybeRetire()
	return &emptypb.Empty{}, nil
}
