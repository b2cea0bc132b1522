package task

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	taskv3 "github.com/berth-oci/berth/shim/internal/taskapi"
	"github.com/berth-oci/berth/shim/options"
	"github.com/berth-oci/berth/shim/stdio"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestRequestsBeforeRestore: a task created from a checkpoint has no
// container until Start restores it. Each request says so with the kind
// containerd expects (as its runc shim's createdCheckpoint state), none
// touches the missing container, and Delete removes the task.
func TestRequestsBeforeRestore(t *testing.T) {
	ctx := context.Background()
	s := testService()
	tk := &task{id: "t", bundle: t.TempDir(), execs: map[string]*process{}, restore: &pendingRestore{}, env: s.env()}
	tk.init = newProcess("t", "")
	tk.init.stdio = &stdio.Stdio{}
	s.tasks["t"] = tk
	pre, gone := errdefs.ErrFailedPrecondition, errdefs.ErrNotFound
	is := func(err, want error) bool { return errors.Is(errgrpc.ToNative(err), want) }

	st, err := s.State(ctx, &taskv3.StateRequest{ID: "t"})
	if err != nil || st.Status != tasktypes.Status_CREATED || st.Pid != 0 {
		t.Errorf("state: %v pid %d %v, want created, pid 0", st.GetStatus(), st.GetPid(), err)
	}
	if pids, err := s.Pids(ctx, &taskv3.PidsRequest{ID: "t"}); err != nil || len(pids.Processes) != 0 {
		t.Errorf("pids: %v %v, want none", pids.GetProcesses(), err)
	}
	if _, err := s.Kill(ctx, &taskv3.KillRequest{ID: "t", Signal: 9}); !is(err, gone) {
		t.Errorf("kill: %v, want not found", err)
	}
	spec, _ := json.Marshal(map[string]any{"args": []string{"true"}, "cwd": "/"})
	exec := &taskv3.ExecProcessRequest{ID: "t", ExecID: "e1", Spec: &anypb.Any{Value: spec}}
	if _, err := s.Exec(ctx, exec); !is(err, pre) {
		t.Errorf("exec: %v, want failed precondition", err)
	}
	res, _ := json.Marshal(map[string]any{})
	for name, call := range map[string]func() error{
		"pause":  func() error { _, err := s.Pause(ctx, &taskv3.PauseRequest{ID: "t"}); return err },
		"resume": func() error { _, err := s.Resume(ctx, &taskv3.ResumeRequest{ID: "t"}); return err },
		"update": func() error {
			_, err := s.Update(ctx, &taskv3.UpdateTaskRequest{ID: "t", Resources: &anypb.Any{Value: res}})
			return err
		},
		"stats": func() error { _, err := s.Stats(ctx, &taskv3.StatsRequest{ID: "t"}); return err },
		"checkpoint": func() error {
			_, err := s.Checkpoint(ctx, &taskv3.CheckpointTaskRequest{ID: "t", Path: t.TempDir()})
			return err
		},
	} {
		if err := call(); !is(err, pre) {
			t.Errorf("%s: %v, want failed precondition", name, err)
		}
	}
	if _, err := s.Delete(ctx, &taskv3.DeleteRequest{ID: "t"}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, ok := s.tasks["t"]; ok || tk.init.state != stateDeleted {
		t.Errorf("after delete: registered %v, init %s", ok, tk.init.state)
	}
}

// TestDecodeCheckpointOptions: runc's CheckpointOptions are read; none, or
// another type, means the task keeps running (CRI's forensic checkpoint
// sends none to a runtime not named runc).
func TestDecodeCheckpointOptions(t *testing.T) {
	exit, err := typeurl.MarshalAnyToProto(&runcoptions.CheckpointOptions{Exit: true, OpenTcp: true, WorkPath: "/w", EmptyNamespaces: []string{"network"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      *anypb.Any
		exit    bool
		tcp     bool
		work    string
		wantErr bool
	}{
		{"none", nil, false, false, "", false},
		{"other type", &anypb.Any{TypeUrl: "runtimeoptions.v1.Options", Value: []byte{1, 2}}, false, false, "", false},
		{"runc", exit, true, true, "/w", false},
		{"corrupt", &anypb.Any{TypeUrl: runcCheckpointOptionsType, Value: []byte{0xff, 0xff}}, false, false, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			co, err := decodeCheckpointOptions(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil || co.GetExit() != tc.exit || co.GetOpenTcp() != tc.tcp || co.GetWorkPath() != tc.work {
				t.Errorf("got %+v %v", co, err)
			}
		})
	}
}

// TestCriuWorkPath: the option wins; else the task's work directory in
// the bundle (containerd's link), else the bundle.
func TestCriuWorkPath(t *testing.T) {
	bundle := t.TempDir()
	if got := criuWorkPath(bundle, options.Options{CriuWorkPath: "/criu"}); got != "/criu" {
		t.Errorf("option: %s", got)
	}
	if got := criuWorkPath(bundle, options.Options{}); got != bundle {
		t.Errorf("no work dir: %s, want %s", got, bundle)
	}
	work := t.TempDir()
	if err := os.Symlink(work, filepath.Join(bundle, "work")); err != nil {
		t.Fatal(err)
	}
	if got := criuWorkPath(bundle, options.Options{}); got != filepath.Join(bundle, "work") {
		t.Errorf("work link: %s", got)
	}
}
