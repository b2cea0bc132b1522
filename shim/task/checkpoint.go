package task

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-oci/berth/shim/internal/fsutil"
	taskv3 "github.com/berth-oci/berth/shim/internal/taskapi"
	"github.com/berth-oci/berth/shim/options"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/errdefs"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	berth "github.com/berth-oci/berth/runtime"
)

const (
	runcCheckpointOptionsType = "containerd.runc.v1.CheckpointOptions"
	// criuDumpLog is where a failed checkpoint's CRIU log is kept in the
	// bundle, as containerd's runc shim keeps it.
	criuDumpLog = "criu-dump.log"
)

// pendingRestore is a task created from a checkpoint: as in containerd's
// runc shim, nothing runs until Start, which restores the container.
type pendingRestore struct {
	rt     *berth.Runtime
	create berth.CreateOpts
	criu   berth.CheckpointOpts
}

// checkpointOptions are containerd's checkpoint request as berth's
// options: runc's CheckpointOptions (none: the task keeps running, as the
// kubelet's forensic checkpoint wants).
func checkpointOptions(req *taskv3.CheckpointTaskRequest) (berth.CheckpointOpts, error) {
	co, err := decodeCheckpointOptions(req.Options)
	if err != nil {
		return berth.CheckpointOpts{}, fmt.Errorf("checkpoint %s: options: %w: %w", req.ID, err, errdefs.ErrInvalidArgument)
	}
	return berth.CheckpointOpts{
		ImagePath:           req.Path,
		WorkPath:            co.GetWorkPath(),
		ParentPath:          co.GetParentPath(),
		LeaveRunning:        !co.GetExit(),
		TCPEstablished:      co.GetOpenTcp(),
		ExternalUnixSockets: co.GetExternalUnixSockets(),
		ShellJob:            co.GetTerminal(),
		FileLocks:           co.GetFileLocks(),
		EmptyNamespaces:     co.GetEmptyNamespaces(),
		ManageCgroupsMode:   co.GetCgroupsMode(),
	}, nil
}

// checkpoint saves the task's processes with CRIU into opts.ImagePath.
// Without LeaveRunning, CRIU stops the container and its TaskExit
// follows. A failed dump's CRIU log is kept in the bundle.
func (t *task) checkpoint(ctx context.Context, opts berth.CheckpointOpts) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.init.canCheckpoint(); err != nil {
		return err
	}
	c, err := t.containerLocked("checkpoint")
	if err != nil {
		return err
	}
	if opts.WorkPath == "" {
		// A work directory of the shim's own, gone after: CRIU's logs
		// stay out of the images containerd archives.
		opts.WorkPath = filepath.Join(t.bundle, "criu-work")
		defer os.RemoveAll(opts.WorkPath)
	}
	if err := c.Checkpoint(ctx, opts); err != nil {
		kept := filepath.Join(t.bundle, criuDumpLog)
		if cerr := fsutil.Copy(filepath.Join(opts.WorkPath, "dump.log"), kept, 0o600); cerr != nil {
			logrus.WithError(cerr).Warnf("checkpoint %s: keep CRIU's dump.log", t.id)
			return err
		}
		return fmt.Errorf("%w (CRIU's log: %s)", err, kept)
	}
	return nil
}

// decodeCheckpointOptions reads runc's CheckpointOptions; none, or another
// runtime's type (CRI sends none for a runtime not named runc), is the
// default: leave the task running.
func decodeCheckpointOptions(a *anypb.Any) (*runcoptions.CheckpointOptions, error) {
	var co runcoptions.CheckpointOptions
	if a == nil || a.GetTypeUrl() != runcCheckpointOptionsType {
		return &co, nil
	}
	if err := proto.Unmarshal(a.GetValue(), &co); err != nil {
		return nil, err
	}
	return &co, nil
}

// restoreLocked restores a task created from a checkpoint, at its start:
// the container comes into being running where the checkpoint left it.
// The caller holds t.mu.
func (t *task) restoreLocked(ctx context.Context) error {
	r := t.restore
	c, err := r.rt.Restore(ctx, t.id, r.create, r.criu)
	t.init.stdio.CloseContainerSide()
	if err != nil {
		return err
	}
	if err := t.adoptInitLocked(ctx, c); err != nil {
		return err
	}
	t.restore = nil
	t.watchOOMLocked()
	return nil
}

// criuWorkPath is where CRIU works on a restore unless the runc option
// CriuWorkPath says: the task's work directory, which containerd links
// into the bundle (as containerd's runc shim does), else the bundle.
func criuWorkPath(bundle string, opts options.Options) string {
	if opts.CriuWorkPath != "" {
		return opts.CriuWorkPath
	}
	work := filepath.Join(bundle, "work")
	if st, err := os.Stat(work); err == nil && st.IsDir() {
		return work
	}
	return bundle
}
