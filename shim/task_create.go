package shim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	taskv3 "github.com/berth-oci/berth/shim/internal/taskapi"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/spec"
)

// newTask sets up a task from containerd's create request: the rootfs, the
// options, the stdio and the container, its init created. It returns the
// task locked, so that an exit handler cannot see it before it is whole;
// the caller registers it and unlocks it. On error nothing is left behind.
func (s *service) newTask(ctx context.Context, req *taskv3.CreateTaskRequest) (_ *task, retErr error) {
	opts, err := decodeOptions(req.Options)
	if err != nil {
		return nil, fmt.Errorf("task options: %w", errdefs.ErrInvalidArgument)
	}
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	rootfs := filepath.Join(req.Bundle, "rootfs")
	if err := mountRootfs(req.Rootfs, rootfs); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil && len(req.Rootfs) > 0 {
			_ = unmountRootfs(rootfs)
		}
	}()
	if err := writeOptions(req.Bundle, opts); err != nil {
		return nil, err
	}
	// Read, not Load: Create validates the spec, once.
	sp, err := spec.Read(req.Bundle)
	if err != nil {
		return nil, err
	}
	rt, err := s.runtimeFor(stateRoot(req.Bundle, s.namespace), opts.SystemdCgroup)
	if err != nil {
		return nil, err
	}
	stdio, err := newStdio(req.ID, s.namespace, req.Stdin, req.Stdout, req.Stderr, req.Terminal, opts.ioOwner(), s.stdioPipes)
	if err != nil {
		return nil, err
	}
	t := &task{id: req.ID, bundle: req.Bundle, execs: map[string]*process{}, hostPidNS: !hasNamespace(sp, specs.PIDNamespace),
		ioOwner: opts.ioOwner()}
	p := newProcess(req.ID, "")
	p.terminal, p.stdio = req.Terminal, stdio
	t.init = p
	t.mu.Lock()
	defer func() {
		if retErr != nil {
			// An exit handler already waiting finds the init deleted.
			p.state = stateDeleted
			t.mu.Unlock()
		}
	}()
	create := berth.CreateOpts{
		Bundle:       req.Bundle,
		Spec:         sp,
		IO:           stdio.io,
		NoPivotRoot:  opts.NoPivotRoot,
		NoNewKeyring: opts.NoNewKeyring,
		OnExit:       func(es berth.ExitStatus) { go s.handleExit(t, p, es) },
	}
	if req.Checkpoint != "" {
		// Restored at Start, as containerd's runc shim does; its pid is
		// 0 until then.
		t.restore = &pendingRestore{rt: rt, create: create, criu: berth.CheckpointOpts{
			ImagePath:  req.Checkpoint,
			ParentPath: req.ParentCheckpoint,
			WorkPath:   criuWorkPath(req.Bundle, opts),
		}}
		return t, nil
	}
	c, err := rt.Create(ctx, req.ID, create)
	stdio.closeContainerSide()
	if err != nil {
		stdio.close()
		return nil, err
	}
	if err := t.adoptInit(ctx, c); err != nil {
		stdio.close()
		return nil, err
	}
	// containerd gives up a task whose Create outlasted it (restarted, it
	// found no task and removed the bundle); the container goes with it.
	if _, err := os.Stat(req.Bundle); err != nil {
		_ = c.Delete(ctx, true)
		stdio.close()
		return nil, fmt.Errorf("bundle %s removed while its task was created: %w", req.Bundle, errdefs.ErrFailedPrecondition)
	}
	return t, nil
}

// adoptInit makes c, whose init was just created or restored, the task's
// container: the init's terminal attached, its pid known and written to
// the bundle. On error c is deleted. The caller holds t.mu.
func (t *task) adoptInit(ctx context.Context, c *berth.Container) error {
	p := t.init
	if p.terminal {
		if err := p.stdio.terminal.attach(p.stdio.paths.stdin, p.stdio.paths.stdout); err != nil {
			_ = c.Delete(ctx, true)
			return err
		}
	}
	pid, err := c.Pid()
	if err != nil {
		_ = c.Delete(ctx, true)
		return err
	}
	t.c, p.pid = c, pid
	_ = writeFileAtomic(filepath.Join(t.bundle, initPidFile), []byte(strconv.Itoa(pid)))
	return nil
}

func hasNamespace(s *specs.Spec, typ specs.LinuxNamespaceType) bool {
	if s.Linux == nil {
		return false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == typ {
			return true
		}
	}
	return false
}
