package runtime

import (
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/utils"
)

// Status is a container's lifecycle status, as the OCI runtime spec (and
// runc, which adds "paused") names it.
type Status string

// The statuses a container can be in.
const (
	// Creating: a create recorded its intent and has not finished; it
	// may have died (Runtime.Delete cleans up after it).
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Paused   Status = "paused"
	Stopped  Status = "stopped"
)

func statusOf(s libcontainer.Status) Status {
	switch s {
	case libcontainer.Created:
		return Created
	case libcontainer.Running:
		return Running
	case libcontainer.Paused:
		return Paused
	default:
		return Stopped
	}
}

// State is a container's OCI state plus what runc reports beside it. Its
// JSON encoding is runc's `state` and `list` output.
type State struct {
	// OCIVersion is the runtime-spec version the runtime implements.
	OCIVersion string `json:"ociVersion"`
	// ID is the container's id.
	ID string `json:"id"`
	// Pid is the host pid of init, or 0 once the container has stopped.
	Pid int `json:"pid"`
	// Status is the lifecycle status.
	Status Status `json:"status"`
	// Bundle is the absolute path of the bundle.
	Bundle string `json:"bundle"`
	// Rootfs is the absolute path of the root filesystem.
	Rootfs string `json:"rootfs"`
	// Created is when the container was created.
	Created time.Time `json:"created"`
	// Annotations are the spec's annotations.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Owner is the user owning the state directory (set by List only).
	Owner string `json:"owner"`
}

// State returns the container's current state.
func (c *Container) State() (State, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.state()
	if err != nil {
		return State{}, opError("state of", c.ID(), err)
	}
	return st, nil
}

func (c *Container) state() (State, error) {
	s, err := c.lc.Status()
	if err != nil {
		return State{}, classify(err)
	}
	ls, err := c.lc.State()
	if err != nil {
		return State{}, classify(err)
	}
	pid := ls.InitProcessPid
	if s == libcontainer.Stopped {
		pid = 0
	}
	bundle, annotations := utils.Annotations(ls.Config.Labels)
	return State{
		OCIVersion:  ls.Config.Version,
		ID:          ls.ID,
		Pid:         pid,
		Status:      statusOf(s),
		Bundle:      bundle,
		Rootfs:      ls.Config.Rootfs,
		Created:     ls.Created,
		Annotations: annotations,
	}, nil
}

// Bundle returns the absolute path of the container's bundle.
func (c *Container) Bundle() string {
	bundle, _ := utils.Annotations(c.lc.Config().Labels)
	return bundle
}
