package runtime

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/berth-oci/berth/spec"
	"github.com/opencontainers/runc/libcontainer"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ExecOpts describes the IO of a process to exec into a container.
type ExecOpts struct {
	// IO is the process's stdio or console socket.
	IO IO
	// ExtraFiles are passed as fds 3, 4, ...
	ExtraFiles []*os.File
	// OnExit, if set, is called once with the exit status when the process
	// exits. It must not block: it may run on the reaper's goroutine.
	OnExit func(ExitStatus)
	// AllowPaused permits exec into a paused container (the process starts
	// frozen, and runs once the container is resumed).
	AllowPaused bool
	// SubCgroupPaths puts the process in a sub-cgroup of the container:
	// controller name (or "" for cgroup v2) to a path relative to the
	// container's cgroup.
	SubCgroupPaths map[string]string
}

// Process is a process exec'd into a running container by this process.
type Process struct {
	c  *Container
	lp *libcontainer.Process // nil for an adopted process (AdoptExec)
	// pid is an adopted process's pid.
	pid  int
	exit *ownedExit
}

// Exec starts an extra process in a created or running container (or a
// paused one with AllowPaused), as runc allows. The caller owns it:
// call Wait to collect its exit status. p is the whole process, as runc
// exec's --process file is: nothing comes from the container's init (its
// env, and so its PATH, cwd, user or capabilities); the zero values are
// root, cwd "/", no capabilities and an empty environment, in which a
// command without a '/' is refused (no PATH to look it up in).
func (c *Container) Exec(ctx context.Context, p *specs.Process, o ExecOpts) (*Process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	proc, err := c.exec(ctx, p, o)
	if err != nil {
		return nil, opError("exec in", c.ID(), err)
	}
	return proc, nil
}

func (c *Container) exec(ctx context.Context, p *specs.Process, o ExecOpts) (*Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := requireInit(); err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errorf(ErrInvalid, "process: must be given")
	}
	if err := spec.ValidateProcess(p, "process"); err != nil {
		return nil, err
	}
	if !strings.Contains(p.Args[0], "/") && !slices.ContainsFunc(p.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		return nil, errorf(ErrInvalid, "process.env: no PATH to look %q up in; give the process an env with PATH, or an absolute path (an exec'd process inherits nothing from the container's init)", p.Args[0])
	}
	if err := o.IO.validate(p.Terminal, "process"); err != nil {
		return nil, err
	}
	if err := checkAppArmor(ctx, p); err != nil {
		return nil, err
	}
	s, err := c.status()
	if err != nil {
		return nil, err
	}
	if err := CanExec(s, o.AllowPaused); err != nil {
		return nil, err
	}
	lp, err := newProcess(p, o.IO, o.ExtraFiles)
	if err != nil {
		return nil, err
	}
	lp.SubCgroupPaths = o.SubCgroupPaths
	var exit *ownedExit
	err = spawning(func() error {
		if err := c.lc.Run(lp); err != nil {
			return err
		}
		exit = newOwnedExit(lp, o.OnExit)
		return nil
	})
	if err != nil {
		return nil, classify(err)
	}
	return &Process{c: c, lp: lp, exit: exit}, nil
}

// Pid returns the host pid of the process.
func (p *Process) Pid() int {
	if p.lp == nil {
		return p.pid
	}
	pid, _ := p.lp.Pid()
	return pid
}

// Signal sends a signal to the process.
func (p *Process) Signal(sig syscall.Signal) error {
	signal := signalPid
	if p.lp != nil {
		signal = func(_ int, sig syscall.Signal) error { return p.lp.Signal(sig) }
	}
	if err := signal(p.Pid(), sig); err != nil {
		return fmt.Errorf("signal exec'd process %d in %s: %w", p.Pid(), p.c.ID(), err)
	}
	return nil
}

// Wait blocks until the process exits and returns how it ended.
func (p *Process) Wait(ctx context.Context) (ExitStatus, error) {
	es, err := p.exit.wait(ctx)
	if err != nil {
		return ExitStatus{}, fmt.Errorf("wait exec'd process in %s: %w", p.c.ID(), err)
	}
	return es, nil
}
