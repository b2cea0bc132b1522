package upgrade

import (
	"time"

	"github.com/berth-oci/berth/shim/sandbox"
	"github.com/berth-oci/berth/shim/task"
)

// State is what a daemon hands to the next image of itself (upgrade.go),
// as JSON in a memfd named by Env; the fds it names are inherited across
// the exec. Its form must stay readable by the next release's binary.
type State struct {
	Generation int                  `json:"generation"`
	Listener   int                  `json:"listener"`
	Conns      []connState          `json:"conns"`
	Events     [][]byte             `json:"events,omitempty"`
	Pins       map[string]time.Time `json:"pins,omitempty"`
	Tasks      []task.State         `json:"tasks"`
	Sandboxes  []sandbox.State      `json:"sandboxes,omitempty"`
}

type connState struct {
	Fd      int      `json:"fd"`
	Requeue [][]byte `json:"requeue,omitempty"`
	Carry   []byte   `json:"carry,omitempty"`
}
