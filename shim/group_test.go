package shim

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

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
	svc := newService(serviceConfig{namespace: "ns", shutdown: func() { close(stopped) }, stopListening: func() { _ = l.Close() }})
	registerGroup(server, svc)
	go func() { _ = server.Serve(context.Background(), l) }()
	defer server.Close()

	ctx := context.Background()
	if serving, err := pinDaemon(ctx, path, "c1"); !serving || err != nil {
		t.Fatalf("pin c1: serving=%v err=%v", serving, err)
	}
	svc.maybeRetire()
	if svc.retired {
		t.Fatal("retired while c1 is pinned")
	}
	// A create that outlives its pin holds the daemon.
	svc.mu.Lock()
	svc.pins["c1"] = time.Now().Add(-time.Second)
	svc.creating["c1"] = make(chan struct{})
	svc.mu.Unlock()
	svc.maybeRetire()
	if svc.retired {
		t.Fatal("retired during a create whose pin expired")
	}
	svc.mu.Lock()
	delete(svc.creating, "c1")
	svc.tasks["c1"] = &task{id: "c1"}
	delete(svc.pins, "c1") // what Create does
	svc.mu.Unlock()
	svc.maybeRetire()
	if svc.retired {
		t.Fatal("retired while c1 runs")
	}
	svc.mu.Lock()
	delete(svc.tasks, "c1") // what Delete does
	svc.pins["late"] = time.Now().Add(-time.Second)
	svc.mu.Unlock()
	svc.maybeRetire()
	if !svc.retired {
		t.Fatal("idle daemon with only an expired pin did not retire")
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("retired daemon did not stop")
	}
	if err := svc.pin("c2"); err == nil {
		t.Fatal("a retired daemon accepted a pin")
	}
	if _, err := pinDaemon(ctx, path, "c2"); err == nil {
		t.Fatal("pinDaemon reached a closed listener")
	}
}

// TestTaskWaitsForCreate: a request for a task whose Create is in progress
// waits for it, then finds the task (or not, if the Create failed), and
// gives up with its context.
func TestTaskWaitsForCreate(t *testing.T) {
	svc := newService(serviceConfig{namespace: "ns", shutdown: func() {}})
	created := make(chan struct{})
	svc.creating["c1"] = created
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := svc.task(ctx, "c1"); err == nil {
		t.Fatal("found a task still being created")
	}
	got := make(chan error, 1)
	go func() {
		_, err := svc.task(context.Background(), "c1")
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	svc.mu.Lock()
	svc.tasks["c1"] = &task{id: "c1"}
	delete(svc.creating, "c1")
	svc.mu.Unlock()
	close(created)
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("after its Create: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request did not end with the Create")
	}
}
