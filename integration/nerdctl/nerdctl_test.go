package nerdctl

import (
	"os/exec"
	"sync"
	"testing"

	"github.com/berth-oci/berth/internal/testutil"
)

// TestNerdctl runs every check with the runc shim (runc v1.5.2) and with
// berth's shim on one containerd 2.3.7, the two runtimes' checks in
// parallel, and fails where the runc shim passes and berth does not.
func TestNerdctl(t *testing.T) {
	testutil.RequireRoot(t, "containerd runs as root")
	for _, bin := range []string{"script", "iptables-save"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s: %v", bin, err)
		}
	}
	// The user namespace check maps nobody's subordinate ids.
	testutil.WithSubidsOf(t, "nobody", "nogroup", 300000, 65536)
	e := startEnv(t)
	runners := []runner{
		{e: e, rt: "io.containerd.runc.v2", name: "runc", project: "lane-runc"},
		{e: e, rt: "io.containerd.berth.v2", name: "berth", project: "lane-berth"},
	}
	got := make([][]string, len(runners))
	var wg sync.WaitGroup
	for i, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range checks {
				got[i] = append(got[i], c.do(r))
			}
		}()
	}
	wg.Wait()
	var expected []testutil.Expected
	for _, c := range checks {
		expected = append(expected, testutil.Expected{Name: c.name, Want: c.want})
	}
	testutil.CompareToReference(t, "nerdctl lane", expected, got[0], got[1])
}
