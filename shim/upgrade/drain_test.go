package upgrade

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// retiringServer serves one "test.Retire/Retire" method on a handover
// listener: its call retires the server as ShutdownSandbox retires a
// daemon (the listener closed, then Drain). drained is closed when
// Drain returns.
func retiringServer(t *testing.T, retired bool) (sock string, drained <-chan struct{}) {
	t.Helper()
	sock, l := listenHandover(t)
	handlers := NewInflight()
	server, err := ttrpc.NewServer(ttrpc.WithUnaryServerInterceptor(
		func(ctx context.Context, unmarshal ttrpc.Unmarshaler, info *ttrpc.UnaryServerInfo, method ttrpc.Method) (any, error) {
			defer handlers.Begin(info.FullMethod)()
			return method(ctx, unmarshal)
		}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	server.RegisterService("test.Retire", &ttrpc.ServiceDesc{Methods: map[string]ttrpc.Method{
		"Retire": func(ctx context.Context, unmarshal func(any) error) (any, error) {
			var req wrapperspb.StringValue
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			go func() {
				_ = l.Close()
				Drain(server, l, handlers, retired, 2*time.Second)
				close(done)
			}()
			return wrapperspb.String("retired"), nil
		},
	}})
	go func() { _ = server.Serve(context.Background(), l) }()
	t.Cleanup(func() { server.Close() })
	return sock, done
}

// TestDrainServerWaitsForClients: a daemon that retired keeps the
// connection of the call that retired it open until its client closes it
// (containerd does once it has the reply); one stopped otherwise (SIGTERM)
// does not wait.
func TestDrainServerWaitsForClients(t *testing.T) {
	for _, retired := range []bool{true, false} {
		t.Run("retired="+strconv.FormatBool(retired), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			sock, drained := retiringServer(t, retired)
			c := dialHandover(t, sock)
			var resp wrapperspb.StringValue
			// A server stopped otherwise closes at once, and then the
			// reply may be lost to ttrpc's client race (see the test
			// below): that is what it does, not a failure.
			err := c.Call(ctx, "test.Retire", "Retire", wrapperspb.String("x"), &resp)
			if err != nil && (retired || !errors.Is(err, ttrpc.ErrClosed)) {
				t.Fatalf("the call that retires the server: %v", err)
			}
			select {
			case <-drained:
				if retired {
					t.Fatal("the server drained with its client still connected")
				}
				return
			case <-time.After(300 * time.Millisecond):
				if !retired {
					t.Fatal("a server that did not retire waited for its client")
				}
			}
			c.Close()
			select {
			case <-drained:
			case <-time.After(time.Second):
				t.Fatal("the server did not drain once its client closed")
			}
		})
	}
}

// slowSender is a client's connection whose writes return late, as a
// write does for a goroutine that waits for a CPU after the syscall: the
// reply, and the close after it, can come before the caller waits for them.
type slowSender struct{ net.Conn }

func (c slowSender) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	time.Sleep(20 * time.Millisecond)
	return n, err
}

// TestDrainServerReplyReachesSlowClient: the call that retires the daemon
// gets its reply even when the client's goroutine is late to wait for it.
// A server that closes the connection at once loses the reply then in about
// a third of the calls (ttrpc's Client.dispatch picks between the reply and
// the close at random): that is the control, which must fail some calls.
func TestDrainServerReplyReachesSlowClient(t *testing.T) {
	const calls = 30
	for _, retired := range []bool{true, false} {
		closed := 0
		for range calls {
			sock, drained := retiringServer(t, retired)
			conn, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			c := ttrpc.NewClient(slowSender{conn})
			var resp wrapperspb.StringValue
			err = c.Call(context.Background(), "test.Retire", "Retire", wrapperspb.String("x"), &resp)
			switch {
			case errors.Is(err, ttrpc.ErrClosed):
				closed++
			case err != nil:
				t.Fatal(err)
			}
			c.Close()
			<-drained
		}
		t.Logf("retired=%v: %d of %d calls lost their reply (ttrpc: closed)", retired, closed, calls)
		if retired && closed > 0 {
			t.Errorf("a daemon that retired lost the reply of %d of %d calls", closed, calls)
		}
		if !retired && closed == 0 {
			t.Errorf("the control lost no reply in %d calls: the test no longer shows the race", calls)
		}
	}
}
