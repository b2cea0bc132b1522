// Package kubelet is the Kubernetes node lane (make test-kubelet): a real
// kubelet, built from Kubernetes' own source (build.sh), drives containerd
// 2.3.7's CRI with each of three runtime handlers in turn, side by side:
// containerd's runc shim with runc v1.5.2, berth's shim with a pause
// container, and berth-sandbox (pods without one). For each handler the
// lane runs a subset of the node e2e suite's [NodeConformance] tests
// (e2enode_test.go; KUBELET_FOCUS=all runs the whole set) and its own
// scenarios against the same kubelet (scenarios_test.go), and fails where
// the runc shim passes and a berth handler does not.
//
// The handler under test is containerd's default_runtime_name: the suite
// creates pods with no RuntimeClass. make test-kubelet runs the test in a
// mount and network namespace of its own (a tmpfs over /tmp, /run,
// /var/lib and /var/log), so that the kubelet, its API server and the
// CNI bridge touch nothing of the host's but cgroups and a few global
// sysctls, which hoststate_test.go puts back.
package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/crienv"
	"github.com/berth-oci/berth/integration/ginkgoreport"
	"github.com/berth-oci/berth/internal/testutil"
)

// handlers are the runtime handlers the lane runs, the runc shim first:
// the others are compared with it.
var handlers = []string{crienv.HandlerRunc, crienv.HandlerBerth, crienv.HandlerBerthSandbox}

// env reads a required path from the environment (make test-kubelet sets
// them).
func env(t *testing.T, name string) string {
	t.Helper()
	return testutil.Binary(t, name, "")
}

// TestKubelet runs the lane with each handler and compares them.
func TestKubelet(t *testing.T) {
	testutil.RequireRoot(t, "runs containerd and a kubelet")
	if os.Getenv("BERTH_KUBELET_LANE_NS") != "1" {
		t.Fatal("run by make test-kubelet: it needs a mount and network namespace of its own (see the Makefile)")
	}
	bins := env(t, "KUBELET_BIN_DIR")
	root := os.Getenv("KUBELET_LANE_DIR")
	if root == "" {
		t.Fatal("KUBELET_LANE_DIR is not set (make test-kubelet sets it)")
	}
	byHandler := map[string]ginkgoreport.Results{}
	only := os.Getenv("KUBELET_HANDLERS") // for a run by hand: "runc,berth-sandbox"
	for _, h := range handlers {
		if only != "" && !slices.Contains(strings.Split(only, ","), h) {
			continue
		}
		t.Run(h, func(t *testing.T) {
			byHandler[h] = runHandler(t, h, bins, filepath.Join(root, h))
		})
	}
	report(t, byHandler, root)
}

// runHandler starts containerd with h as its default handler, runs the
// suite's subset and the lane's scenarios, and cleans up.
func runHandler(t *testing.T, h, bins, dir string) ginkgoreport.Results {
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	host := saveHost(t, filepath.Join(bins, "kubelet"))
	cfg := crienv.ConfigFromEnv(t, "CONTAINERD_23", "CONTAINERD_23_SHIM_RUNC", 3)
	cfg.Dir, cfg.DefaultHandler, cfg.Agnhost = dir, h, filepath.Join(bins, "agnhost")
	cfg.SystemdCgroup = cgroupDriver() == "systemd"
	crictl := env(t, "CRICTL")
	ctx := context.Background()
	started := time.Now()
	e, err := crienv.Start(ctx, cfg)
	t.Cleanup(func() {
		host.restore(t, e.Socket, func() error { return e.RemoveAllPods(ctx, crictl) }, e.Close)
	})
	if err != nil {
		t.Fatalf("containerd 2.3.7 for %s: %v\ncontainerd log:\n%s", h, err, e.Log())
	}
	t.Logf("the registry, its images and containerd 2.3.7 ready in %s", time.Since(started).Round(time.Millisecond))
	// cAdvisor (in the kubelet) finds containerd at its default socket
	// only: there, in this namespace's /run, a link to the lane's.
	if err := os.MkdirAll("/run/containerd", 0o711); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove("/run/containerd/containerd.sock")
	if err := os.Symlink(e.Socket, "/run/containerd/containerd.sock"); err != nil {
		t.Fatal(err)
	}
	res := ginkgoreport.Results{}
	if os.Getenv("KUBELET_SCENARIOS_ONLY") != "1" { // for a run by hand
		res = runE2ENode(t, e2eNode{bins: bins, dir: dir, endpoint: e.Endpoint()})
	}
	for name, state := range runScenarios(t, h, bins, dir, e) {
		res[name] = state
	}
	return res
}

// report prints each test's result per handler and a line of counts per
// handler, and fails where the runc shim passes and a berth handler does
// not.
func report(t *testing.T, byHandler map[string]ginkgoreport.Results, root string) {
	all := ginkgoreport.Results{}
	for _, r := range byHandler {
		for n := range r {
			all[n] = ""
		}
	}
	fmt.Printf("kubelet lane (Kubernetes %s, containerd 2.3.7), per test and handler:\n", os.Getenv("KUBELET_VERSION"))
	for _, name := range all.Names() {
		var states []string
		for _, h := range handlers {
			if r, ok := byHandler[h]; ok {
				states = append(states, fmt.Sprintf("%s=%s", h, orNotRun(r[name])))
			}
		}
		fmt.Printf("  %s: %s\n", name, strings.Join(states, " "))
	}
	for _, h := range handlers {
		r, ok := byHandler[h]
		if !ok {
			fmt.Printf("%s: not run (KUBELET_HANDLERS)\n", h)
			continue
		}
		fmt.Printf("%s: %d passed, %d failed, %d skipped\n", h, r.Count(ginkgoreport.Passed), r.Count(ginkgoreport.Failed), r.Count(ginkgoreport.Skipped))
	}
	for h, r := range byHandler {
		for name, state := range r {
			// A setup node's failure: no test of the suite ran.
			if strings.HasPrefix(name, "[") && strings.HasSuffix(name, "Suite]") && state == ginkgoreport.Failed {
				t.Errorf("the node e2e suite did not start with %s (%s failed); its log is %s/%s/e2e-node.log", h, name, root, h)
			}
		}
	}
	runc, ok := byHandler[crienv.HandlerRunc]
	if !ok {
		return
	}
	for _, h := range handlers[1:] {
		r, ok := byHandler[h]
		if !ok {
			continue
		}
		worse, better := ginkgoreport.Compare(runc, r)
		for _, n := range worse {
			fmt.Printf("  passes with runc, not with %s: %s\n", h, n)
		}
		for _, n := range better {
			fmt.Printf("  passes with %s, not with runc: %s\n", h, n)
		}
		if len(worse) > 0 {
			t.Errorf("%d tests pass with the runc shim and not with %s; logs in %s/%s", len(worse), h, root, h)
		}
	}
}

func orNotRun(state string) string {
	if state == "" {
		return "not-run"
	}
	return state
}
