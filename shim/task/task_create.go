package task

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/berth-oci/berth/shim/internal/fsutil"
	taskv3 "github.com/berth-oci/berth/shim/internal/taskapi"
	"github.com/berth-oci/berth/shim/options"
	"github.com/berth-oci/berth/shim/stdio"
	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/spec"
)

// createOptions decodes and checks a create request's runtime options.
func createOptions(req *taskv3.CreateTaskRequest) (options.Options, error) {
	opts, err := options.Decode(req.Options)
	if err != nil {
		return opts, fmt.Errorf("task options: %w", errdefs.ErrInvalidArgument)
	}
	if err := opts.Check(); err != nil {
		return opts, fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	return opts, nil
}

// newTask sets up a task from containerd's create request on rt: the
// rootfs, the options, the stdio and the container, its init created and
// TaskCreate published. It holds the task's lock while it builds it, so
// that an exit handler cannot see it before it is whole, and returns it
// unlocked, for the daemon to register. On error nothing is left behind.
func newTask(ctx context.Context, env taskEnv, rt *berth.Runtime, opts options.Options, req *taskv3.CreateTaskRequest) (_ *task, retErr error) {
	rootfs := filepath.Join(req.Bundle, "rootfs")
	if err := berth.MountRootfs(rootfsMounts(req.Rootfs), rootfs); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil && len(req.Rootfs) > 0 {
			_ = berth.UnmountRootfs(rootfs)
		}
	}()
	if err := options.Write(req.Bundle, opts); err != nil {
		return nil, err
	}
	// Read, not Load: Create validates the spec, once.
	sp, err := spec.Read(req.Bundle)
	if err != nil {
		return nil, err
	}
	t := &task{id: req.ID, bundle: req.Bundle, execs: map[string]*process{}, hostPidNS: !hasNamespace(sp, specs.PIDNamespace),
		ioOwner: opts.IOOwner(), env: env}
	paths := stdio.Paths{Stdin: req.Stdin, Stdout: req.Stdout, Stderr: req.Stderr, Terminal: req.Terminal}
	sio, err := stdio.New(paths, t.stdioConfig())
	if err != nil {
		return nil, err
	}
	p := newProcess(req.ID, "")
	p.paths, p.stdio = paths, sio
	t.init = p
	t.mu.Lock()
	defer t.mu.Unlock()
	defer func() {
		if retErr != nil {
			// An exit handler already waiting finds the init deleted.
			p.move(stateDeleted)
		}
	}()
	create := berth.CreateOpts{
		Bundle:       req.Bundle,
		Spec:         sp,
		IO:           sio.IO(),
		NoPivotRoot:  opts.NoPivotRoot,
		NoNewKeyring: opts.NoNewKeyring,
		OnExit:       t.onExit(p),
	}
	if req.Checkpoint != "" {
		// Restored at start, as containerd's runc shim does; its pid is
		// 0 until then.
		t.restore = &pendingRestore{rt: rt, create: create, criu: berth.CheckpointOpts{
			ImagePath:  req.Checkpoint,
			ParentPath: req.ParentCheckpoint,
			WorkPath:   criuWorkPath(req.Bundle, opts),
		}}
		t.publishCreateLocked(req)
		return t, nil
	}
	c, err := rt.Create(ctx, req.ID, create)
	sio.CloseContainerSide()
	if err != nil {
		sio.Close()
		return nil, err
	}
	if err := t.adoptInitLocked(ctx, c); err != nil {
		sio.Close()
		return nil, err
	}
	// containerd gives up a task whose Create outlasted it (restarted, it
	// found no task and removed the bundle); the container goes with it.
	if _, err := os.Stat(req.Bundle); err != nil {
		_ = c.Delete(ctx, true)
		sio.Close()
		return nil, fmt.Errorf("bundle %s removed while its task was created: %w", req.Bundle, errdefs.ErrFailedPrecondition)
	}
	t.publishCreateLocked(req)
	t.watchOOMLocked()
	return t, nil
}

// publishCreateLocked publishes TaskCreate; the caller holds t.mu, so no
// TaskExit of the init can come before it.
func (t *task) publishCreateLocked(req *taskv3.CreateTaskRequest) {
	t.env.events.Publish(topicTaskCreate, &eventstypes.TaskCreate{
		ContainerID: req.ID,
		Bundle:      req.Bundle,
		Rootfs:      req.Rootfs,
		IO:          &eventstypes.TaskIO{Stdin: req.Stdin, Stdout: req.Stdout, Stderr: req.Stderr, Terminal: req.Terminal},
		Checkpoint:  req.Checkpoint,
		Pid:         uint32(t.init.pid),
	})
}

// adoptInitLocked makes c, whose init was just created or restored, the
// task's container: the init's terminal attached, its pid known and
// written to the bundle. On error c is deleted. The caller holds t.mu.
func (t *task) adoptInitLocked(ctx context.Context, c *berth.Container) error {
	p := t.init
	if p.paths.Terminal {
		if err := p.stdio.AttachTerminal(p.paths.Stdin, p.paths.Stdout); err != nil {
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
	_ = fsutil.WriteAtomic(filepath.Join(t.bundle, InitPidFile), []byte(strconv.Itoa(pid)))
	return nil
}

// rootfsMounts are containerd's rootfs mounts as the library takes them.
func rootfsMounts(mounts []*types.Mount) []berth.RootfsMount {
	out := make([]berth.RootfsMount, len(mounts))
	for i, m := range mounts {
		out[i] = berth.RootfsMount{Type: m.GetType(), Source: m.GetSource(), Options: m.GetOptions()}
	}
	return out
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
