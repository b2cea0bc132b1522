package runtime

import (
	"sync"

	"github.com/opencontainers/runc/libcontainer"
)

// Container is one container under a Runtime's root. Its methods are safe
// for concurrent use and are serialized.
type Container struct {
	rt *Runtime
	lc *libcontainer.Container
	mu sync.Mutex
	// init is the exit of the container's init: owned (reaped by this
	// process) when this process created the container, watched through
	// a pidfd otherwise. Nil until needed for a loaded container.
	init exitSource
}

func newContainer(r *Runtime, lc *libcontainer.Container) *Container {
	return &Container{rt: r, lc: lc}
}

// Load returns the container with the given id.
func (r *Runtime) Load(id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, opError("load", id, err)
	}
	lc, err := libcontainer.Load(r.root, id)
	if err != nil {
		return nil, opError("load", id, classify(err))
	}
	c := newContainer(r, lc)
	if o, ok := initOwnerOf(r.stateDir(id)); ok {
		c.init = o // created by this process: its owner's status and reaping
	}
	return c, nil
}

// ID returns the container's id.
func (c *Container) ID() string { return c.lc.ID() }

// Pid returns the host pid of the container's init.
func (c *Container) Pid() (int, error) {
	st, err := c.lc.State()
	if err != nil {
		return 0, opError("pid of", c.ID(), classify(err))
	}
	return st.InitProcessPid, nil
}

func (c *Container) status() (Status, error) {
	s, err := c.lc.Status()
	if err != nil {
		return "", opError("status of", c.ID(), classify(err))
	}
	return statusOf(s), nil
}
