package upgrade

import (
	"errors"
	"time"

	"github.com/berth-oci/berth/shim/events"
	"github.com/berth-oci/berth/shim/internal/handover"
	"github.com/berth-oci/berth/shim/sandbox"
	"github.com/berth-oci/berth/shim/task"
)

// Pins are the daemon's pins, which its books keep: start's promises that
// a container is about to be created in the daemon.
type Pins interface {
	// PinsForHandover are the live pins; a retiring daemon refuses.
	PinsForHandover() (map[string]time.Time, error)
	// PinUntil pins id until expiry.
	PinUntil(id string, expiry time.Time) error
}

// Parts are what a daemon serves, wired by the daemon: its pins, the task
// and sandbox services, and its event queue. An upgrade asks each for its
// own state and gives it back to each in the next image.
type Parts struct {
	Pins   Pins
	Tasks  *task.Service
	Pods   *sandbox.Service
	Events *events.Publisher
}

// handover describes what the daemon serves for its next image: the pins,
// the pods, and the tasks with their stdio copies parked (resume undoes
// the parking).
func (d Parts) handover(fds *handover.FDSet, deadline time.Time) (*State, func(), error) {
	pins, err := d.Pins.PinsForHandover()
	if err != nil {
		return nil, func() {}, err
	}
	state := &State{Pins: pins}
	if state.Sandboxes, err = d.Pods.Handover(); err != nil {
		return nil, func() {}, err
	}
	var resume func()
	state.Tasks, resume, err = d.Tasks.Handover(fds, deadline)
	if err != nil {
		return nil, resume, err
	}
	return state, resume, nil
}

// Adopt takes back, in an upgraded image, what the earlier image handed
// over: the tasks, the pods and the pins. Call it from
// berth.StartReaperAdopting's adopt, before anything is served.
func (d Parts) Adopt(state *State) error {
	errs := []error{d.Tasks.Adopt(state.Tasks), d.Pods.Adopt(state.Sandboxes)}
	for id, expiry := range state.Pins {
		if err := d.Pins.PinUntil(id, expiry); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
