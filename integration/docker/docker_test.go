package docker

import (
	"os/exec"
	"sync"
	"testing"

	"github.com/berth-oci/berth/internal/testutil"
)

// TestDocker runs every check with runc and with berth (both registered
// with one dockerd, the two runtimes' checks in parallel), restarts
// dockerd for the live-restore check, and fails where runc passes and
// berth does not.
func TestDocker(t *testing.T) {
	testutil.RequireRoot(t, "dockerd runs as root")
	for _, bin := range []string{"dockerd", "docker"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s: %v (make test-docker installs docker.io)", bin, err)
		}
	}
	bins := []string{testutil.Binary(t, "RUNC_BINARY", ""), testutil.Binary(t, "BERTH_BINARY", "")}
	d := startDaemon(t, testutil.Binary(t, "CONTAINERD_16", "/usr/bin/containerd"),
		map[string]string{runtimeNames[0]: bins[0], runtimeNames[1]: bins[1]})
	runners := []runner{{d, runtimeNames[0]}, {d, runtimeNames[1]}}

	got := make([][]string, len(runners))
	pids := make([]string, len(runners))
	inParallel(runners, func(i int, r runner) {
		for _, c := range checks {
			got[i] = append(got[i], c.do(r))
		}
		pids[i] = liveRestore.before(r)
	})
	d.stopDockerd()
	d.startDockerd()
	inParallel(runners, func(i int, r runner) {
		got[i] = append(got[i], liveRestore.after(r, pids[i]))
	})

	var expected []testutil.Expected
	for _, c := range checks {
		expected = append(expected, testutil.Expected{Name: c.name, Want: c.want})
	}
	expected = append(expected, testutil.Expected{Name: liveRestore.name, Want: liveRestore.want})
	testutil.CompareToReference(t, "docker lane", expected, got[0], got[1])
}

// inParallel runs f for each runner at once and waits for all.
func inParallel(runners []runner, f func(i int, r runner)) {
	var wg sync.WaitGroup
	for i, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i, r)
		}()
	}
	wg.Wait()
}
