package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	goruntime "runtime"
	"sync"
	"time"

	"github.com/berth-oci/berth/shim/internal/errs"
	"github.com/berth-oci/berth/shim/internal/handover"
	"github.com/berth-oci/berth/shim/task"
	"github.com/berth-oci/berth/shim/upgrade"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// A daemon serves a group of containers: by default every container of a
// containerd namespace, or the group its annotations name. It retires
// (stops listening, removes its socket, exits) once it holds no task and
// no pin. A pin is start's promise that containerd is about to create the
// named container here: start pins an existing daemon before returning
// its address, and a new daemon starts pinned for the container it was
// launched for, so a daemon never retires between start and Create.

const (
	// groupService and pinMethod are the ttrpc method start calls.
	groupService = "berth.shim.v1.Group"
	pinMethod    = "Pin"
	// statsMethod answers the daemon's own figures (see daemonStats): a
	// diagnostic for whoever watches a long-lived daemon (the tests watch
	// it for leaks and for refused transitions).
	statsMethod = "Stats"
	// pinTTL bounds a pin whose Create never comes (containerd failed in
	// between); the daemon then retires if it holds nothing else.
	pinTTL = 30 * time.Second
)

// errRetiring answers a pin or a hold that comes after the daemon decided
// to retire.
var errRetiring = errors.New("shim daemon is retiring")

// books are what keeps the daemon serving: the tasks and pods that hold
// it (each by kind and id), the pins, and whether it has retired. The
// task and sandbox services hold it through a keeper each. Its lock is
// taken last: nothing is called under it but the listener's close.
type books struct {
	// shutdown ends the daemon; stopListening closes its listener and
	// removes its socket (nil in tests).
	shutdown, stopListening func()

	mu      sync.Mutex
	held    map[string]struct{} // "<kind>/<id>"
	pins    map[string]time.Time
	retired bool
}

func newBooks(shutdown, stopListening func()) *books {
	return &books{shutdown: shutdown, stopListening: stopListening, held: map[string]struct{}{}, pins: map[string]time.Time{}}
}

// pin records that container id is about to be created here.
func (b *books) pin(id string) error {
	return b.PinUntil(id, time.Now().Add(pinTTL))
}

// PinUntil pins id until expiry (an upgraded daemon's pins keep theirs).
func (b *books) PinUntil(id string, expiry time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.retired {
		return errRetiring
	}
	b.pins[id] = expiry
	time.AfterFunc(time.Until(expiry), b.maybeRetire)
	return nil
}

// maybeRetire retires the daemon if it holds no task, no pod, no create
// in progress and no live pin. The socket is gone before it returns, so a
// later start launches a new daemon.
func (b *books) maybeRetire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.retired || len(b.held) > 0 {
		return
	}
	now := time.Now()
	for id, until := range b.pins {
		if now.Before(until) {
			return
		}
		delete(b.pins, id)
	}
	b.retired = true
	if b.stopListening != nil {
		b.stopListening()
	}
	go b.shutdown()
}

// PinsForHandover are the live pins, for the daemon's next image; a
// retiring daemon hands nothing over.
func (b *books) PinsForHandover() (map[string]time.Time, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.retired {
		return nil, handover.Refused{Why: "the daemon is retiring"}
	}
	return maps.Clone(b.pins), nil
}

// keeper is the books as one kind of holder (the task or the sandbox
// service) sees them.
type keeper struct {
	b    *books
	kind string
}

// Hold records that id holds the daemon and ends id's pin: the create
// start promised has come.
func (k keeper) Hold(id string) error {
	k.b.mu.Lock()
	defer k.b.mu.Unlock()
	if k.b.retired {
		return errRetiring
	}
	k.b.held[k.kind+"/"+id] = struct{}{}
	delete(k.b.pins, id)
	return nil
}

// Release drops id's hold.
func (k keeper) Release(id string) {
	k.b.mu.Lock()
	defer k.b.mu.Unlock()
	delete(k.b.held, k.kind+"/"+id)
}

// Unpin ends id's pin.
func (k keeper) Unpin(id string) {
	k.b.mu.Lock()
	defer k.b.mu.Unlock()
	delete(k.b.pins, id)
}

// MaybeRetire is the books' maybeRetire.
func (k keeper) MaybeRetire() { k.b.maybeRetire() }

// registerGroup adds the pin and stats methods to the daemon's ttrpc
// server.
func registerGroup(server *ttrpc.Server, b *books, tasks *task.Service) {
	server.RegisterService(groupService, &ttrpc.ServiceDesc{
		Methods: map[string]ttrpc.Method{
			pinMethod: func(ctx context.Context, unmarshal func(any) error) (any, error) {
				var id wrapperspb.StringValue
				if err := unmarshal(&id); err != nil {
					return nil, err
				}
				if err := b.pin(id.GetValue()); err != nil {
					return nil, errs.ToGRPC(fmt.Errorf("pin %s: %w: %w", id.GetValue(), err, errdefs.ErrUnavailable))
				}
				return &emptypb.Empty{}, nil
			},
			statsMethod: func(ctx context.Context, unmarshal func(any) error) (any, error) {
				var req emptypb.Empty
				if err := unmarshal(&req); err != nil {
					return nil, err
				}
				data, err := json.Marshal(daemonStatsOf(b, tasks))
				if err != nil {
					return nil, err
				}
				return &wrapperspb.StringValue{Value: string(data)}, nil
			},
		},
	})
}

// daemonStats are a daemon's own figures, the answer to the Group
// service's Stats method (JSON in a StringValue).
type daemonStats struct {
	Pid        int `json:"pid"`
	Goroutines int `json:"goroutines"`
	Fds        int `json:"fds"`
	Tasks      int `json:"tasks"`
	// RefusedTransitions counts the process transitions the shim decided
	// and its state table refused: bugs, each logged (process.move).
	RefusedTransitions int64 `json:"refused_transitions"`
	// What holds the daemon besides tasks: the ids pinned or in Create.
	Pins     []string `json:"pins,omitempty"`
	Creating []string `json:"creating,omitempty"`
	// Generation counts the in-place upgrades the daemon went through;
	// UpgradeError is why the last one was given up, if it was.
	Generation   int64  `json:"generation"`
	UpgradeError string `json:"upgrade_error,omitempty"`
}

func daemonStatsOf(b *books, tasks *task.Service) daemonStats {
	fds, _ := os.ReadDir("/proc/self/fd")
	st := daemonStats{Pid: os.Getpid(), Generation: upgrade.Generation(), UpgradeError: upgrade.LastError(), Goroutines: goruntime.NumGoroutine(), Fds: len(fds),
		RefusedTransitions: task.RefusedTransitions()}
	st.Tasks, st.Creating = tasks.Books()
	b.mu.Lock()
	for id := range b.pins {
		st.Pins = append(st.Pins, id)
	}
	b.mu.Unlock()
	return st
}

// pinDaemon asks the daemon on path to keep serving until containerd
// creates container id. It reports whether the daemon will serve it:
// false means it is retiring and has already removed its socket. An error
// from dialing means no daemon listens there; any other error (a daemon
// too old to know pins, or too busy to answer) counts as serving.
func pinDaemon(ctx context.Context, path, id string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return false, fmt.Errorf("dial %s: %w", path, err)
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()
	err = client.Call(ctx, groupService, pinMethod, &wrapperspb.StringValue{Value: id}, &emptypb.Empty{})
	switch {
	case err == nil:
		return true, nil
	case errdefs.IsUnavailable(errgrpc.ToNative(err)), errors.Is(err, ttrpc.ErrClosed):
		return false, nil // retiring: its socket is gone or going
	default:
		return true, nil
	}
}
