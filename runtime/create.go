package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/berth-oci/berth/spec"
	"github.com/opencontainers/runc/libcontainer"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
)

// CreateOpts describes a container to create.
type CreateOpts struct {
	// Bundle is the absolute path of the OCI bundle.
	Bundle string
	// Spec, when set, is used instead of reading <Bundle>/config.json, and
	// is validated the same way.
	Spec *specs.Spec
	// IO is the init process's stdio or console socket.
	IO IO
	// ExtraFiles are passed to init as fds 3, 4, ... (runc's --preserve-fds).
	ExtraFiles []*os.File
	// NoPivotRoot uses MS_MOVE instead of pivot_root (for ramfs roots).
	NoPivotRoot bool
	// NoNewKeyring keeps the caller's session keyring.
	NoNewKeyring bool
	// OnExit, if set, is called once with init's exit status when it exits.
	// It must not block: it may run on the reaper's goroutine.
	OnExit func(ExitStatus)
	// NotifySocket gives the container an sd_notify socket, as runc does
	// when NOTIFY_SOCKET is set: <state dir>/notify is bind-mounted
	// read-only at /run/notify and the process gets
	// NOTIFY_SOCKET=/run/notify/notify.sock. Bind it with
	// Container.ListenNotify before the container starts.
	NotifySocket bool
}

// Create creates a container from a bundle and leaves its init waiting to
// be started (OCI "created"). On error nothing is left behind: no state
// directory, cgroup, mount or process.
func (r *Runtime) Create(ctx context.Context, id string, o CreateOpts) (*Container, error) {
	c, err := r.create(ctx, id, o, (*libcontainer.Container).Start)
	if err != nil {
		return nil, opError("create", id, err)
	}
	return c, nil
}

// Run creates a container and starts it at once, like Create then Start but
// in one step.
func (r *Runtime) Run(ctx context.Context, id string, o CreateOpts) (*Container, error) {
	c, err := r.create(ctx, id, o, (*libcontainer.Container).Run)
	if err != nil {
		return nil, opError("run", id, err)
	}
	return c, nil
}

// startFunc starts a new container's init: libcontainer's Start (create),
// Run (create and start), or a CRIU restore.
type startFunc func(*libcontainer.Container, *libcontainer.Process) error

func (r *Runtime) create(ctx context.Context, id string, o CreateOpts, start startFunc) (*Container, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if err := requireInit(); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(o.Bundle) {
		return nil, errorf(ErrInvalid, "bundle %q: path must be absolute", o.Bundle)
	}
	bundle := filepath.Clean(o.Bundle)
	s := o.Spec
	if s == nil {
		var err error
		if s, err = spec.Load(bundle); err != nil {
			return nil, err
		}
	} else if err := spec.Validate(s, bundle); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(bundle, spec.ConfigName), err)
	}
	if err := o.IO.validate(s.Process.Terminal, "process"); err != nil {
		return nil, err
	}
	if err := requireSeccompBuild(s); err != nil {
		return nil, err
	}
	if err := checkHost(ctx, s); err != nil {
		return nil, err
	}
	if o.NotifySocket {
		s = withNotifySocket(s, filepath.Join(r.stateDir(id), notifyDirName))
	}
	cfg, err := r.toConfig(id, bundle, s, configOpts{noPivotRoot: o.NoPivotRoot, noNewKeyring: o.NoNewKeyring})
	if err != nil {
		return nil, err
	}
	// The create's record is on disk before anything is made on the host, and
	// until the create has finished or cleaned up after itself.
	rec, err := r.recordCreate(id, cfg.Cgroups)
	if err != nil {
		return nil, err
	}
	defer rec.release()
	if _, err := os.Lstat(r.stateDir(id)); err == nil {
		return nil, errorf(ErrExists, "container %q already exists in %s", id, r.root)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	storeProgram := r.attachSeccompProgram(cfg.Seccomp)
	proc, err := newProcess(s.Process, o.IO, o.ExtraFiles)
	if err != nil {
		return nil, err
	}
	proc.Init = true
	// Create validates the config, which may spawn and wait for a child
	// reading a joined user namespace's mappings.
	var lc *libcontainer.Container
	err = spawning(func() error {
		var err error
		lc, err = libcontainer.Create(r.root, id, cfg)
		return err
	})
	if err != nil {
		return nil, classify(err)
	}
	c := newContainer(r, lc)
	err = spawning(func() error {
		var err error
		if o.NotifySocket {
			// The bind mount's source, in the state directory that
			// libcontainer.Create made, before the init mounts it.
			err = os.Mkdir(filepath.Join(r.stateDir(id), notifyDirName), 0o755)
		}
		if err == nil {
			err = start(lc, proc)
		}
		if err != nil {
			if derr := lc.Destroy(); derr != nil {
				logrus.WithError(derr).Warnf("clean up container %s after failed start", id)
			}
			_, _ = proc.Wait() // reap init if it was spawned
			return err
		}
		owner := newOwnedExit(proc, o.OnExit)
		c.init = owner
		own(r.stateDir(id), owner)
		return nil
	})
	if err != nil {
		return nil, classify(err)
	}
	rec.keep(r.stateDir(id))
	storeProgram()
	return c, nil
}
