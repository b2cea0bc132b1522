package shim

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-oci/berth/shim/task"
	"github.com/containerd/ttrpc"
)

// TestPinAndRetire serves the group service on a real socket and checks
// the retire rules: a pinned or busy daemon stays, an idle one removes its
// socket before maybeRetire returns, and a retiring daemon refuses pins.
func TestPinAndRetire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	server, err := ttrpc.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	b := newBooks(func() { close(stopped) }, func() { _ = l.Close() })
	registerGroup(server, b, task.NewService(task.Config{Namespace: "ns", Keeper: keeper{b, "task"}}))
	go func() { _ = server.Serve(context.Background(), l) }()
	defer server.Close()
	tasks, pods := keeper{b, "task"}, keeper{b, "pod"}
	retired := func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.retired
	}

	ctx := context.Background()
	if serving, err := pinDaemon(ctx, path, "c1"); !serving || err != nil {
		t.Fatalf("pin c1: serving=%v err=%v", serving, err)
	}
	b.maybeRetire()
	if retired() {
		t.Fatal("retired while c1 is pinned")
	}
	// A create that outlives its pin holds the daemon; its hold ends the
	// pin.
	b.mu.Lock()
	b.pins["c1"] = time.Now().Add(-time.Second)
	b.mu.Unlock()
	if err := tasks.Hold("c1"); err != nil {
		t.Fatal(err)
	}
	b.maybeRetire()
	if retired() {
		t.Fatal("retired while c1 is held")
	}
	// A pod and a task of the same id are two holds.
	if err := pods.Hold("c1"); err != nil {
		t.Fatal(err)
	}
	tasks.Release("c1") // what Delete does
	b.maybeRetire()
	if retired() {
		t.Fatal("retired while pod c1 is held")
	}
	pods.Release("c1")
	b.mu.Lock()
	b.pins["late"] = time.Now().Add(-time.Second)
	b.mu.Unlock()
	pods.MaybeRetire()
	if !retired() {
		t.Fatal("idle daemon with only an expired pin did not retire")
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("retired daemon did not stop")
	}
	if err := b.pin("c2"); err == nil {
		t.Fatal("a retired daemon accepted a pin")
	}
	if err := tasks.Hold("c2"); err == nil {
		t.Fatal("a retired daemon accepted a task")
	}
	if _, err := pinDaemon(ctx, path, "c2"); err == nil {
		t.Fatal("pinDaemon reached a closed listener")
	}
}
