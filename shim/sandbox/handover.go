package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/shim/internal/handover"
)

// State is a started pod as handed over to the daemon's next image: its
// holder, a child of the daemon's main thread, which the exec keeps.
type State struct {
	ID        string            `json:"id"`
	Bundle    string            `json:"bundle"`
	Netns     string            `json:"netns"`
	Dir       string            `json:"dir"`
	Volatile  string            `json:"volatile"`
	Pid       int               `json:"pid"`
	CreatedAt time.Time         `json:"createdAt"`
	Exit      *berth.ExitStatus `json:"exit,omitempty"`
}

// Handover describes the daemon's pods for its next image. A pod created
// and not yet started cannot be handed over.
func (ss *Service) Handover() ([]State, error) {
	ss.mu.Lock()
	pods := make([]*podSandbox, 0, len(ss.pods))
	for _, sb := range ss.pods {
		pods = append(pods, sb)
	}
	ss.mu.Unlock()
	var out []State
	for _, sb := range pods {
		st, err := sb.handover()
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func (sb *podSandbox) handover() (State, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.pid == 0 {
		return State{}, handover.Refused{Why: fmt.Sprintf("pod sandbox %s is created and not started", sb.id)}
	}
	return State{ID: sb.id, Bundle: sb.bundle, Netns: sb.netns, Dir: sb.files.dir, Volatile: sb.files.volatile,
		Pid: sb.pid, CreatedAt: sb.createdAt, Exit: sb.exit}, nil
}

// Adopt rebuilds, in the daemon's next image, the pods an earlier one
// handed over, their holders' exits taken back; each holds the daemon
// again. Call it from berth.StartReaperAdopting's adopt, before anything
// is served. A pod that cannot be adopted is named in the error; the
// others are served still.
func (ss *Service) Adopt(states []State) error {
	var errs []error
	for _, st := range states {
		sb := &podSandbox{id: st.ID, bundle: st.Bundle, netns: st.Netns,
			files: podFiles{dir: st.Dir, volatile: st.Volatile},
			pid:   st.Pid, createdAt: st.CreatedAt, exit: st.Exit, exited: make(chan struct{})}
		if sb.exit != nil {
			close(sb.exited)
		} else if err := berth.OwnChild(sb.pid, sb.holderExited); err != nil {
			errs = append(errs, fmt.Errorf("adopt pod sandbox %s: %w", st.ID, err))
			continue
		}
		if err := ss.keeper.Hold(sb.id); err != nil {
			errs = append(errs, fmt.Errorf("adopt pod sandbox %s: %w", st.ID, err))
			continue
		}
		ss.mu.Lock()
		ss.pods[sb.id] = sb
		ss.mu.Unlock()
	}
	return errors.Join(errs...)
}

// RemoveFiles removes the files of a pod whose daemon died (its holder
// died with it), when bundle is the sandbox controller's; shim delete
// calls it.
func RemoveFiles(bundle, id string) {
	if !strings.Contains(bundle, sandboxControllerPlugin) {
		return
	}
	files, err := podFilesFor(bundle, id)
	if err != nil {
		return
	}
	if err := files.remove(); err != nil {
		fmt.Fprintf(os.Stderr, "remove the files of pod %s: %v\n", id, err)
	}
}
