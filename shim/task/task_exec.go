package task

import (
	"fmt"

	"github.com/berth-oci/berth/shim/stdio"
	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// addExec records a process to exec, with its stdio paths; start runs it.
// The request's terminal wins over the spec's, as in containerd's runc
// shim: containerd's client sets only the request's.
func (t *task) addExec(execID string, ps specs.Process, terminal bool, stdin, stdout, stderr string) error {
	if execID == "" {
		return fmt.Errorf("exec id must not be empty: %w", errdefs.ErrInvalidArgument)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.execs[execID]; ok {
		return fmt.Errorf("exec %s in task %s: %w", execID, t.id, errdefs.ErrAlreadyExists)
	}
	if err := t.init.canHostExecs(); err != nil {
		return err
	}
	if _, err := t.containerLocked("exec"); err != nil {
		return err
	}
	ps.Terminal = terminal
	p := newProcess(t.id, execID)
	p.spec = &ps
	p.paths = stdio.Paths{Stdin: stdin, Stdout: stdout, Stderr: stderr, Terminal: terminal}
	t.execs[execID] = p
	t.env.events.Publish(topicTaskExecAdded, &eventstypes.TaskExecAdded{ContainerID: t.id, ExecID: execID})
	return nil
}
