package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	goruntime "runtime"
	"sync"
	"syscall"
	"time"

	"github.com/berth-oci/berth/shim/internal/errs"
	"github.com/berth-oci/berth/shim/internal/sandboxapi"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/errdefs"
	"github.com/containerd/ttrpc"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/types/known/timestamppb"

	berth "github.com/berth-oci/berth/runtime"
)

// The pod sandbox: containerd 2.x's Sandbox API (sandboxer = "shim" on a
// runtime handler), served beside the task API by the pod's daemon. A pod
// is a holder process (holder.go) in the pod's namespaces and the
// pod's files (files.go): no pause container, image or rootfs.

// Pod sandbox states, as containerd's CRI names them.
const (
	sandboxReady    = "SANDBOX_READY"
	sandboxNotReady = "SANDBOX_NOTREADY"
)

// podSandbox is one pod served by the daemon. Its lock guards the fields
// below it.
type podSandbox struct {
	id     string
	bundle string
	netns  string
	config podConfig
	files  podFiles

	mu        sync.Mutex
	pid       int
	createdAt time.Time
	exit      *berth.ExitStatus
	exited    chan struct{} // closed once the holder has exited
}

// Keeper is what keeps the daemon serving: a pod holds it from its
// CreateSandbox to its ShutdownSandbox (the daemon's books).
type Keeper interface {
	// Hold records that the pod holds the daemon; it is refused once
	// the daemon has decided to retire.
	Hold(id string) error
	// Release drops the pod's hold.
	Release(id string)
	// MaybeRetire retires the daemon if nothing holds it any more.
	MaybeRetire()
}

// Service is the Sandbox API: the pods this daemon serves.
type Service struct {
	keeper Keeper

	mu   sync.Mutex
	pods map[string]*podSandbox
}

var _ sandboxapi.TTRPCSandboxService = (*Service)(nil)

// NewService serves pods for a daemon whose books are keeper's.
func NewService(keeper Keeper) *Service {
	return &Service{keeper: keeper, pods: map[string]*podSandbox{}}
}

// Register adds the Sandbox API to the daemon's ttrpc server.
func (ss *Service) Register(server *ttrpc.Server) {
	sandboxapi.RegisterTTRPCSandboxService(server, ss)
}

func (ss *Service) sandbox(id string) (*podSandbox, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	sb := ss.pods[id]
	if sb == nil {
		return nil, errs.ToGRPC(fmt.Errorf("sandbox %s: %w", id, errdefs.ErrNotFound))
	}
	return sb, nil
}

// CreateSandbox records the pod and writes its files.
func (ss *Service) CreateSandbox(ctx context.Context, req *sandboxapi.CreateSandboxRequest) (*sandboxapi.CreateSandboxResponse, error) {
	if err := ValidateSandboxID(req.SandboxID); err != nil {
		return nil, errs.ToGRPC(err)
	}
	var cfg podConfig
	if opts := req.GetOptions(); opts != nil && len(opts.GetValue()) > 0 {
		var err error
		if cfg, err = decodePodConfig(opts.GetValue()); err != nil {
			return nil, errs.ToGRPC(fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument))
		}
	}
	if err := cfg.validateUserns(); err != nil {
		return nil, errs.ToGRPC(fmt.Errorf("sandbox %s: %w: %w", req.SandboxID, err, errdefs.ErrInvalidArgument))
	}
	files, err := podFilesFor(req.BundlePath, req.SandboxID)
	if err != nil {
		return nil, errs.ToGRPC(fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument))
	}
	sb := &podSandbox{id: req.SandboxID, bundle: req.BundlePath, netns: req.NetnsPath, config: cfg, files: files, exited: make(chan struct{})}
	ss.mu.Lock()
	if _, ok := ss.pods[req.SandboxID]; ok {
		ss.mu.Unlock()
		return nil, errs.ToGRPC(fmt.Errorf("sandbox %s: %w", req.SandboxID, errdefs.ErrAlreadyExists))
	}
	if err := ss.keeper.Hold(req.SandboxID); err != nil {
		ss.mu.Unlock()
		return nil, errs.ToGRPC(err)
	}
	ss.pods[req.SandboxID] = sb
	ss.mu.Unlock()
	if err := files.write(cfg); err != nil {
		ss.forget(req.SandboxID)
		return nil, errs.ToGRPC(fmt.Errorf("sandbox %s: %w", req.SandboxID, err))
	}
	return &sandboxapi.CreateSandboxResponse{}, nil
}

// ValidateSandboxID checks a sandbox id as a container id is checked: it
// names directories.
func ValidateSandboxID(id string) error {
	if err := berth.ValidateID(id); err != nil {
		return fmt.Errorf("sandbox id: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	return nil
}

// StartSandbox starts the pod's holder.
func (ss *Service) StartSandbox(ctx context.Context, req *sandboxapi.StartSandboxRequest) (*sandboxapi.StartSandboxResponse, error) {
	sb, err := ss.sandbox(req.SandboxID)
	if err != nil {
		return nil, err
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.pid != 0 {
		return nil, errs.ToGRPC(fmt.Errorf("sandbox %s is started: %w", sb.id, errdefs.ErrFailedPrecondition))
	}
	c := sb.config
	// The holder gets a pid namespace of its own unless the pod asks for
	// the host's (NODE), as the CRI's pause container does: a container
	// that asks for the pod's (POD) while the pod shares none (CONTAINER)
	// joins /proc/<holder>/ns/pid, which must never be the host's.
	spec := podHolderSpec{
		newPID:   c.pid != modeNode,
		newIPC:   c.ipc != modeNode,
		newUTS:   c.network != modeNode,
		hostname: c.hostname,
		sysctls:  c.sysctls,
	}
	if c.network != modeNode {
		spec.netnsPath = sb.netns
	}
	if c.userns {
		spec.uidMap, spec.gidMap = c.uidMap, c.gidMap
	}
	pid, err := startPodHolder(spec, func(es berth.ExitStatus) { sb.holderExited(es) })
	if err != nil {
		return nil, errs.ToGRPC(fmt.Errorf("sandbox %s: %w", sb.id, err))
	}
	sb.pid, sb.createdAt = pid, time.Now()
	return &sandboxapi.StartSandboxResponse{Pid: uint32(pid), CreatedAt: timestamppb.New(sb.createdAt)}, nil
}

func (sb *podSandbox) holderExited(es berth.ExitStatus) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sb.exit = &es
	close(sb.exited)
}

// Platform is the daemon's.
func (ss *Service) Platform(ctx context.Context, req *sandboxapi.PlatformRequest) (*sandboxapi.PlatformResponse, error) {
	if _, err := ss.sandbox(req.SandboxID); err != nil {
		return nil, err
	}
	return &sandboxapi.PlatformResponse{Platform: &types.Platform{OS: goruntime.GOOS, Architecture: goruntime.GOARCH}}, nil
}

// StopSandbox kills the holder (it has no use for a graceful stop) and
// waits for its exit, within the request's timeout when it has one.
func (ss *Service) StopSandbox(ctx context.Context, req *sandboxapi.StopSandboxRequest) (*sandboxapi.StopSandboxResponse, error) {
	sb, err := ss.sandbox(req.SandboxID)
	if err != nil {
		return nil, err
	}
	if req.TimeoutSecs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutSecs)*time.Second)
		defer cancel()
	}
	if err := sb.stop(ctx); err != nil {
		return nil, errs.ToGRPC(err)
	}
	return &sandboxapi.StopSandboxResponse{}, nil
}

// stop kills the holder, if started, and waits for its exit.
func (sb *podSandbox) stop(ctx context.Context) error {
	sb.mu.Lock()
	pid := sb.pid
	sb.mu.Unlock()
	if pid == 0 {
		return nil
	}
	select {
	case <-sb.exited:
		return nil
	default:
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("stop sandbox %s: %w", sb.id, err)
	}
	select {
	case <-sb.exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop sandbox %s: %w", sb.id, ctx.Err())
	}
}

// WaitSandbox waits for the holder's exit.
func (ss *Service) WaitSandbox(ctx context.Context, req *sandboxapi.WaitSandboxRequest) (*sandboxapi.WaitSandboxResponse, error) {
	sb, err := ss.sandbox(req.SandboxID)
	if err != nil {
		return nil, err
	}
	select {
	case <-sb.exited:
	case <-ctx.Done():
		return nil, errs.ToGRPC(ctx.Err())
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return &sandboxapi.WaitSandboxResponse{ExitStatus: sb.exit.ContainerdStatus(), ExitedAt: timestamppb.New(sb.exit.ExitedAt)}, nil
}

// SandboxStatus reports the holder's pid and whether it runs.
func (ss *Service) SandboxStatus(ctx context.Context, req *sandboxapi.SandboxStatusRequest) (*sandboxapi.SandboxStatusResponse, error) {
	sb, err := ss.sandbox(req.SandboxID)
	if err != nil {
		return nil, err
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	resp := &sandboxapi.SandboxStatusResponse{SandboxID: sb.id, Pid: uint32(sb.pid), State: sandboxNotReady}
	if sb.pid != 0 {
		resp.CreatedAt = timestamppb.New(sb.createdAt)
		if sb.exit == nil {
			resp.State = sandboxReady
		} else {
			resp.ExitedAt = timestamppb.New(sb.exit.ExitedAt)
		}
	}
	if req.Verbose {
		resp.Info = sb.verboseInfoLocked()
	}
	return resp, nil
}

// verboseInfoLocked is the verbose status's "info", the part of the CRI's
// SandboxInfo (JSON) that the pod sandbox knows: the holder's pid and
// whether it runs, and that there is no image. The caller holds sb.mu.
func (sb *podSandbox) verboseInfoLocked() map[string]string {
	status := "created"
	if sb.pid != 0 {
		status = "running"
		if sb.exit != nil {
			status = "stopped"
		}
	}
	info, _ := json.Marshal(struct {
		Pid    int    `json:"pid"`
		Status string `json:"processStatus"`
		Holder string `json:"podHolder"`
	}{sb.pid, status, "berth: no pause container; the pod's namespaces are held by this pid"})
	return map[string]string{"info": string(info)}
}

// PingSandbox answers while the daemon serves the pod.
func (ss *Service) PingSandbox(ctx context.Context, req *sandboxapi.PingRequest) (*sandboxapi.PingResponse, error) {
	if _, err := ss.sandbox(req.SandboxID); err != nil {
		return nil, err
	}
	return &sandboxapi.PingResponse{}, nil
}

// ShutdownSandbox stops the holder, removes the pod's files and forgets
// the pod; the daemon retires once it holds nothing more.
func (ss *Service) ShutdownSandbox(ctx context.Context, req *sandboxapi.ShutdownSandboxRequest) (*sandboxapi.ShutdownSandboxResponse, error) {
	sb, err := ss.sandbox(req.SandboxID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sb.stop(ctx); err != nil {
		return nil, errs.ToGRPC(err)
	}
	if err := sb.files.remove(); err != nil {
		logrus.WithError(err).Warnf("sandbox %s: remove its files", sb.id)
	}
	ss.forget(sb.id)
	return &sandboxapi.ShutdownSandboxResponse{}, nil
}

// forget drops the pod and lets the daemon retire if it was the last
// thing it held.
func (ss *Service) forget(id string) {
	ss.mu.Lock()
	delete(ss.pods, id)
	ss.mu.Unlock()
	ss.keeper.Release(id)
	go ss.keeper.MaybeRetire()
}

// SandboxMetrics: the pod's holder has no cgroup of its own; its
// containers' metrics come through the task API.
func (ss *Service) SandboxMetrics(ctx context.Context, req *sandboxapi.SandboxMetricsRequest) (*sandboxapi.SandboxMetricsResponse, error) {
	if _, err := ss.sandbox(req.SandboxID); err != nil {
		return nil, err
	}
	return nil, errs.ToGRPC(fmt.Errorf("sandbox metrics: the pod has no cgroup of its own: %w", errdefs.ErrNotImplemented))
}

// UpdateSandbox: nothing of the pod's can change in place.
func (ss *Service) UpdateSandbox(ctx context.Context, req *sandboxapi.UpdateSandboxRequest) (*sandboxapi.UpdateSandboxResponse, error) {
	if _, err := ss.sandbox(req.SandboxID); err != nil {
		return nil, err
	}
	return &sandboxapi.UpdateSandboxResponse{}, nil
}
