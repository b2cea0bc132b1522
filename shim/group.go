package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"time"

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

// errRetiring answers a pin that comes after the daemon decided to retire.
var errRetiring = errors.New("shim daemon is retiring")

// pin records that container id is about to be created here.
func (s *service) pin(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retired {
		return errRetiring
	}
	s.pins[id] = time.Now().Add(pinTTL)
	time.AfterFunc(pinTTL, s.maybeRetire)
	return nil
}

// maybeRetire retires the daemon if it holds no task, no pod sandbox, no
// create in progress and no live pin. The socket is gone before it returns, so a
// later start launches a new daemon.
func (s *service) maybeRetire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retired || len(s.tasks) > 0 || len(s.creating) > 0 || len(s.sandboxes) > 0 {
		return
	}
	now := time.Now()
	for id, until := range s.pins {
		if now.Before(until) {
			return
		}
		delete(s.pins, id)
	}
	s.retired = true
	if s.stopListening != nil {
		s.stopListening()
	}
	go s.shutdown()
}

// registerGroup adds the pin method to the daemon's ttrpc server.
func registerGroup(server *ttrpc.Server, s *service) {
	server.RegisterService(groupService, &ttrpc.ServiceDesc{
		Methods: map[string]ttrpc.Method{
			pinMethod: func(ctx context.Context, unmarshal func(any) error) (any, error) {
				var id wrapperspb.StringValue
				if err := unmarshal(&id); err != nil {
					return nil, err
				}
				if err := s.pin(id.GetValue()); err != nil {
					return nil, toGRPC(fmt.Errorf("pin %s: %w: %w", id.GetValue(), err, errdefs.ErrUnavailable))
				}
				return &emptypb.Empty{}, nil
			},
			statsMethod: func(ctx context.Context, unmarshal func(any) error) (any, error) {
				var req emptypb.Empty
				if err := unmarshal(&req); err != nil {
					return nil, err
				}
				data, err := json.Marshal(s.stats())
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

func (s *service) stats() daemonStats {
	fds, _ := os.ReadDir("/proc/self/fd")
	st := daemonStats{Pid: os.Getpid(), Generation: generation.Load(), UpgradeError: upgradeError(), Goroutines: goruntime.NumGoroutine(), Fds: len(fds),
		RefusedTransitions: refusedTransitions.Load()}
	s.mu.Lock()
	st.Tasks = len(s.tasks)
	for id := range s.pins {
		st.Pins = append(st.Pins, id)
	}
	for id := range s.creating {
		st.Creating = append(st.Creating, id)
	}
	s.mu.Unlock()
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
