package upgrade

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// handoverTestServer is a ttrpc server of one image: Echo answers at
// once, with the image's name; Wait answers when release is closed.
func handoverTestServer(t *testing.T, name string, release <-chan struct{}) *ttrpc.Server {
	t.Helper()
	s, err := ttrpc.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	answer := func(ctx context.Context, unmarshal func(any) error) (any, error) {
		var req wrapperspb.StringValue
		if err := unmarshal(&req); err != nil {
			return nil, err
		}
		return wrapperspb.String(name + ":" + req.Value), nil
	}
	s.RegisterService("test.Handover", &ttrpc.ServiceDesc{Methods: map[string]ttrpc.Method{
		"Echo": answer,
		"Wait": func(ctx context.Context, unmarshal func(any) error) (any, error) {
			<-release
			return answer(ctx, unmarshal)
		},
	}})
	return s
}

// listenHandover listens on a socket in a test directory, as the daemon's
// handover listener.
func listenHandover(t *testing.T) (string, *Listener) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	raw, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	return sock, NewListener(raw, nil)
}

// dialHandover connects a ttrpc client to sock, closed when the test ends.
func dialHandover(t *testing.T, sock string) *ttrpc.Client {
	t.Helper()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c := ttrpc.NewClient(conn)
	t.Cleanup(func() { c.Close() })
	return c
}

func call(ctx context.Context, c *ttrpc.Client, method, value string) (string, error) {
	var resp wrapperspb.StringValue
	err := c.Call(ctx, "test.Handover", method, wrapperspb.String(value), &resp)
	return resp.Value, err
}

// TestConnHandover: a client's connection passes from one server to
// another at a message boundary, as the daemon's connections pass to its
// next image: the request the old one left unanswered (a Wait) is answered
// by the new one, a request sent while frozen too, and the client sees no
// error; new connections reach the new one.
func TestConnHandover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sock, oldL := listenHandover(t)
	never := make(chan struct{})
	defer close(never)
	old := handoverTestServer(t, "old", never)
	go func() { _ = old.Serve(ctx, oldL) }()

	client := dialHandover(t, sock)
	if got, err := call(ctx, client, "Echo", "a"); err != nil || got != "old:a" {
		t.Fatalf("Echo before: %q, %v", got, err)
	}
	waited := make(chan string, 1)
	go func() {
		got, err := call(ctx, client, "Wait", "w")
		if err != nil {
			got = "error: " + err.Error()
		}
		waited <- got
	}()
	// The Wait reaches the old server before the freeze.
	deadline := time.Now().Add(5 * time.Second)
	for {
		oldL.mu.Lock()
		var methods []string
		for c := range oldL.conns {
			methods = append(methods, c.unansweredMethods()...)
		}
		oldL.mu.Unlock()
		if slices.Equal(methods, []string{"test.Handover/Wait"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unanswered before the freeze: %v", methods)
		}
		time.Sleep(5 * time.Millisecond)
	}

	conns := oldL.freeze()
	if len(conns) != 1 {
		t.Fatalf("%d connections frozen, want 1", len(conns))
	}
	// Sent while frozen: read by nobody yet.
	echoed := make(chan string, 1)
	go func() {
		got, err := call(ctx, client, "Echo", "b")
		if err != nil {
			got = "error: " + err.Error()
		}
		echoed <- got
	}()
	time.Sleep(50 * time.Millisecond)
	ho, err := conns[0].freezeWrites()
	if err != nil {
		t.Fatal(err)
	}
	if len(ho.requeue) != 1 || requestMethod(ho.requeue[0]) != "test.Handover/Wait" {
		t.Fatalf("requeued %d requests", len(ho.requeue))
	}
	lf, err := oldL.file()
	if err != nil {
		t.Fatal(err)
	}

	// The new image.
	fl, err := net.FileListener(lf)
	lf.Close()
	if err != nil {
		t.Fatal(err)
	}
	fc, err := net.FileConn(ho.file)
	ho.file.Close()
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	close(released)
	newL := NewListener(fl.(*net.UnixListener), []*handoverConn{newHandoverConn(fc.(*net.UnixConn), ho.requeue, ho.carry, nil)})
	next := handoverTestServer(t, "new", released)
	go func() { _ = next.Serve(ctx, newL) }()
	defer next.Close()

	for what, ch := range map[string]chan string{"Wait": waited, "Echo sent while frozen": echoed} {
		select {
		case got := <-ch:
			want := map[string]string{"Wait": "new:w", "Echo sent while frozen": "new:b"}[what]
			if got != want {
				t.Errorf("%s: %q, want %q", what, got, want)
			}
		case <-ctx.Done():
			t.Fatalf("%s: no answer", what)
		}
	}
	if got, err := call(ctx, client, "Echo", "c"); err != nil || got != "new:c" {
		t.Errorf("Echo after: %q, %v", got, err)
	}
	if got, err := call(ctx, dialHandover(t, sock), "Echo", "d"); err != nil || got != "new:d" {
		t.Errorf("Echo on a new connection: %q, %v", got, err)
	}
}

// TestConnHandoverThaw: a handover given up leaves the old server serving
// the same connection, the request sent while frozen answered.
func TestConnHandoverThaw(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sock, l := listenHandover(t)
	s := handoverTestServer(t, "old", nil)
	go func() { _ = s.Serve(ctx, l) }()
	defer s.Close()
	client := dialHandover(t, sock)
	if _, err := call(ctx, client, "Echo", "a"); err != nil {
		t.Fatal(err)
	}
	conns := l.freeze()
	echoed := make(chan string, 1)
	go func() {
		got, _ := call(ctx, client, "Echo", "b")
		echoed <- got
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case got := <-echoed:
		t.Fatalf("answered while frozen: %q", got)
	default:
	}
	l.thaw(conns)
	if got := <-echoed; got != "old:b" {
		t.Fatalf("after thaw: %q", got)
	}
}

// TestConnHandoverClientGone: a connection the server closes while the
// handover has it frozen (its client went just as the freeze came) is
// left out: its unanswered requests hold nothing up, and freezeWrites
// reports errConnGone, while the other connection is handed over.
func TestConnHandoverClientGone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sock, l := listenHandover(t)
	never := make(chan struct{})
	defer close(never)
	s := handoverTestServer(t, "old", never)
	go func() { _ = s.Serve(ctx, l) }()
	defer s.Close()
	var clients []*ttrpc.Client
	for range 2 {
		c := dialHandover(t, sock)
		if _, err := call(ctx, c, "Echo", "a"); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	// The first client's connection has an unanswered request that is no
	// Wait: it would hold the upgrade up while the connection is open.
	go func() { _, _ = call(ctx, clients[0], "Wait", "w") }()
	deadline := time.Now().Add(5 * time.Second)
	var gone *handoverConn
	for gone == nil {
		l.mu.Lock()
		for c := range l.conns {
			if len(c.unansweredMethods()) > 0 {
				gone = c
			}
		}
		l.mu.Unlock()
		if gone == nil && time.Now().After(deadline) {
			t.Fatal("the Wait never reached the server")
		}
		time.Sleep(5 * time.Millisecond)
	}
	conns := l.freeze()
	if len(conns) != 2 {
		t.Fatalf("%d connections frozen, want 2", len(conns))
	}
	if err := gone.Close(); err != nil { // as the server does on a read error
		t.Fatal(err)
	}
	if m := gone.unansweredMethods(); len(m) != 0 {
		t.Errorf("a closed connection's unanswered requests: %v", m)
	}
	for _, c := range conns {
		ho, err := c.freezeWrites()
		switch {
		case c == gone && !errors.Is(err, errConnGone):
			t.Errorf("the closed connection: %v, want errConnGone", err)
		case c != gone && err != nil:
			t.Errorf("the open connection: %v", err)
		}
		if ho.file != nil {
			ho.file.Close()
		}
	}
	l.thaw(conns)
}

func TestFrameParser(t *testing.T) {
	msg := func(stream uint32, typ byte, payload string) []byte {
		b := make([]byte, ttrpcHeaderLen+len(payload))
		b[0], b[1], b[2], b[3] = 0, 0, 0, byte(len(payload))
		b[7] = byte(stream)
		b[8] = typ
		copy(b[ttrpcHeaderLen:], payload)
		return b
	}
	stream := slices.Concat(msg(1, 2, "abc"), msg(3, 2, ""), msg(5, 2, "xyz12"))
	for _, chunk := range []int{1, 3, 10, 11, len(stream)} {
		var f frameParser
		var got []uint32
		for i := 0; i < len(stream); i += chunk {
			for _, d := range f.feed(stream[i:min(i+chunk, len(stream))]) {
				got = append(got, d.stream)
			}
		}
		if !slices.Equal(got, []uint32{1, 3, 5}) || !f.atBoundary() {
			t.Errorf("chunks of %d: messages %v, at boundary %v", chunk, got, f.atBoundary())
		}
	}
}
