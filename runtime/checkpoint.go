package runtime

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/runc/libcontainer"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CheckpointOpts describes a CRIU checkpoint (or restore) of a container.
type CheckpointOpts struct {
	// ImagePath is the absolute directory for the checkpoint images.
	ImagePath string
	// WorkPath is an absolute directory for CRIU's logs and work files
	// (default: ImagePath).
	WorkPath string
	// ParentPath is the images of a previous pre-dump, relative to ImagePath.
	ParentPath string
	// LeaveRunning keeps the container running after the checkpoint.
	LeaveRunning bool
	// TCPEstablished checkpoints established TCP connections.
	TCPEstablished bool
	// ExternalUnixSockets allows external unix socket connections.
	ExternalUnixSockets bool
	// ShellJob allows processes attached to a shell's session.
	ShellJob bool
	// FileLocks checkpoints file locks.
	FileLocks bool
	// PreDump dumps memory only, for an iterative checkpoint.
	PreDump bool
	// ManageCgroupsMode is CRIU's cgroup mode: soft, full, strict or ignore.
	ManageCgroupsMode string
	// TCPSkipInFlight skips TCP connections not yet established.
	TCPSkipInFlight bool
	// LinkRemap lets CRIU link unlinked files back when it can.
	LinkRemap bool
	// AutoDedup deduplicates memory images of an incremental dump.
	AutoDedup bool
	// LazyPages leaves memory pages to be served lazily (userfaultfd),
	// by CRIU's page server or lazy-pages daemon.
	LazyPages bool
	// StatusFile, with LazyPages, gets a NUL byte once the lazy-pages
	// server is ready; nil for none.
	StatusFile *os.File
	// PageServer is the ADDRESS:PORT of a CRIU page server to dump to.
	PageServer string
	// EmptyNamespaces are namespaces created at restore without their
	// dumped properties. The network namespace is always among them, as
	// in runc: neither manages network devices.
	EmptyNamespaces []string
	// LSMProfile and LSMMountContext replace the dumped LSM profile and
	// mount context at restore.
	LSMProfile      string
	LSMMountContext string
}

// emptyNamespaceFlags maps the namespaces CheckpointOpts.EmptyNamespaces
// may name (only the network, as runc) to their clone flags.
var emptyNamespaceFlags = map[string]uint32{string(specs.NetworkNamespace): unix.CLONE_NEWNET}

func (o CheckpointOpts) criu() (*libcontainer.CriuOpts, error) {
	if !filepath.IsAbs(o.ImagePath) {
		return nil, errorf(ErrInvalid, "checkpoint image path %q must be absolute", o.ImagePath)
	}
	if o.WorkPath != "" && !filepath.IsAbs(o.WorkPath) {
		return nil, errorf(ErrInvalid, "checkpoint work path %q must be absolute", o.WorkPath)
	}
	if filepath.IsAbs(o.ParentPath) {
		return nil, errorf(ErrInvalid, "checkpoint parent path %q must be relative to the image path", o.ParentPath)
	}
	switch o.ManageCgroupsMode {
	case "", "soft", "full", "strict", "ignore":
	default:
		return nil, errorf(ErrInvalid, "cgroups manage mode %q is not one of soft, full, strict or ignore", o.ManageCgroupsMode)
	}
	emptyNs := uint32(unix.CLONE_NEWNET)
	for _, ns := range o.EmptyNamespaces {
		flag, ok := emptyNamespaceFlags[ns]
		if !ok {
			return nil, errorf(ErrInvalid, "empty namespace %q is not supported (only %q)", ns, specs.NetworkNamespace)
		}
		emptyNs |= flag
	}
	var pageServer libcontainer.CriuPageServerInfo
	if o.PageServer != "" {
		host, port, err := net.SplitHostPort(o.PageServer)
		n, perr := strconv.ParseUint(port, 10, 16)
		if err != nil || host == "" || perr != nil || n == 0 {
			return nil, errorf(ErrInvalid, "page server %q is not ADDRESS:PORT", o.PageServer)
		}
		pageServer = libcontainer.CriuPageServerInfo{Address: host, Port: int32(n)}
	}
	statusFd := -1
	if o.StatusFile != nil {
		statusFd = int(o.StatusFile.Fd())
	}
	if err := os.MkdirAll(o.ImagePath, 0o700); err != nil {
		return nil, err
	}
	return &libcontainer.CriuOpts{
		ImagesDirectory:         o.ImagePath,
		WorkDirectory:           o.WorkPath,
		ParentImage:             o.ParentPath,
		LeaveRunning:            o.LeaveRunning,
		TcpEstablished:          o.TCPEstablished,
		ExternalUnixConnections: o.ExternalUnixSockets,
		ShellJob:                o.ShellJob,
		FileLocks:               o.FileLocks,
		PreDump:                 o.PreDump,
		ManageCgroupsMode:       o.ManageCgroupsMode,
		TcpSkipInFlight:         o.TCPSkipInFlight,
		LinkRemap:               o.LinkRemap,
		AutoDedup:               o.AutoDedup,
		LazyPages:               o.LazyPages,
		StatusFd:                statusFd,
		PageServer:              pageServer,
		EmptyNs:                 emptyNs,
		LsmProfile:              o.LSMProfile,
		LsmMountContext:         o.LSMMountContext,
	}, nil
}

// Checkpoint saves the container's processes with CRIU (the criu binary
// must be installed and support the running kernel).
func (c *Container) Checkpoint(ctx context.Context, o CheckpointOpts) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return opError("checkpoint", c.ID(), err)
	}
	opts, err := o.criu()
	if err != nil {
		return opError("checkpoint", c.ID(), err)
	}
	// libcontainer waits for criu itself.
	if err := spawning(func() error { return c.lc.Checkpoint(opts) }); err != nil {
		return opError("checkpoint", c.ID(), criuError(classify(err), opts, "dump.log"))
	}
	return nil
}

// criuError adds CRIU's last error line, from its log, to err: CRIU's own
// status ("criu failed: type DUMP errno 0") does not say what went wrong.
func criuError(err error, opts *libcontainer.CriuOpts, logName string) error {
	dir := opts.WorkDirectory
	if dir == "" {
		dir = opts.ImagesDirectory
	}
	logPath := filepath.Join(dir, logName)
	data, rerr := os.ReadFile(logPath)
	if rerr != nil {
		return err
	}
	// CRIU logs the cause last, after the errors it led to.
	last := ""
	for _, line := range strings.Split(string(data), "\n") {
		if _, msg, ok := strings.Cut(line, "Error ("); ok {
			if _, after, ok := strings.Cut(msg, "): "); ok {
				msg = after
			}
			last = strings.TrimSpace(msg)
		}
	}
	if last == "" {
		return fmt.Errorf("%w (criu log: %s)", err, logPath)
	}
	return fmt.Errorf("%w: criu: %s (full log: %s)", err, last, logPath)
}

// Restore creates a container from a bundle and a checkpoint, and starts
// it running where the checkpoint left it.
func (r *Runtime) Restore(ctx context.Context, id string, o CreateOpts, co CheckpointOpts) (*Container, error) {
	opts, err := co.criu()
	if err != nil {
		return nil, opError("restore", id, err)
	}
	c, err := r.create(ctx, id, o, func(lc *libcontainer.Container, p *libcontainer.Process) error {
		if err := lc.Restore(p, opts); err != nil {
			return criuError(err, opts, "restore.log")
		}
		return nil
	})
	if err != nil {
		return nil, opError("restore", id, err)
	}
	// libcontainer's in-memory restored state never leaves "running" (its
	// transition to stopped is dropped), so a Container kept from Restore
	// would never see its init stop: kill and delete would wait for ever.
	// Go on from the state on disk, as runc's next command does.
	lc, err := libcontainer.Load(r.root, id)
	if err != nil {
		_ = r.Delete(ctx, id, true) // best effort: nothing left running
		return nil, opError("restore", id, fmt.Errorf("load the restored container: %w", classify(err)))
	}
	c.mu.Lock()
	c.lc = lc
	c.mu.Unlock()
	return c, nil
}
