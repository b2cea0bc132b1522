package cri

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/crienv"
	"github.com/berth-oci/berth/integration/hoststate"
	"github.com/berth-oci/berth/internal/testutil"
)

// TestPodChurn runs BERTH_POD_CHURN pod create/delete cycles (runp, stopp,
// rmp), 10 at a time, under the sandbox handler (pods without a pause
// container) and, for comparison, BERTH_POD_CHURN_RUNC of them (100 by
// default: a cycle costs seconds here) under the runc shim, on containerd
// 2.2.1,
// and requires that the sandbox handler's leave nothing: no process of the
// shim (daemon or pod holder), no mount, no entry under the CRI's and the
// sandbox controller's directories, no network namespace pin, no cgroup
// named by a pod. make test-reliability sets 1,000; without it the test is
// skipped (make test-cri has its own pod checks).
func TestPodChurn(t *testing.T) {
	cycles, _ := strconv.Atoi(os.Getenv("BERTH_POD_CHURN"))
	if cycles <= 0 {
		t.Skip("BERTH_POD_CHURN is not set (make test-reliability sets it)")
	}
	testutil.RequireRoot(t, "runs containerd and pods")
	cfg := crienv.ConfigFromEnv(t, "CONTAINERD_22", "CONTAINERD_22_SHIM_RUNC", 3)
	crictl := env(t, "CRICTL")
	e, dir := startEnv(t, cfg, crictl, "berth-podchurn")
	podCfg := podConfig(t, dir, "churn")
	runcCycles := min(cycles, 100)
	if n, err := strconv.Atoi(os.Getenv("BERTH_POD_CHURN_RUNC")); err == nil && n > 0 {
		runcCycles = n
	}
	for _, h := range []string{crienv.HandlerRunc, crienv.HandlerBerthSandbox} {
		n := cycles
		if h == crienv.HandlerRunc {
			n = runcCycles
		}
		netnsBefore := entries("/var/run/netns")
		holdersBefore := len(hoststate.ProcessesNamed(hoststate.PodHolderName))
		start := time.Now()
		ids, failures := churnPods(e, crictl, h, podCfg, n, 10)
		took := time.Since(start)
		fmt.Printf("pod churn, %s: %d runp/stopp/rmp cycles, 10 at a time, in %s, %.0f ms a cycle (%d failed)\n",
			h, n, took.Round(time.Millisecond), float64(took.Milliseconds())/float64(n), len(failures))
		for i, f := range failures {
			if i == 5 {
				t.Errorf("%s: ... %d more", h, len(failures)-5)
				break
			}
			t.Errorf("%s: %s", h, f)
		}
		if h != crienv.HandlerBerthSandbox {
			continue
		}
		var left []string
		if _, waited := hoststate.WaitShimsGone("containerd-shim-berth-v2", e.Socket, 20*time.Second); waited >= 20*time.Second {
			left = append(left, fmt.Sprintf("berth shim daemons: %v", hoststate.ShimPids("containerd-shim-berth-v2", e.Socket)))
		}
		if after := len(hoststate.ProcessesNamed(hoststate.PodHolderName)); after > holdersBefore {
			left = append(left, fmt.Sprintf("pod holder processes: %d before, %d after", holdersBefore, after))
		}
		left = append(left, hoststate.MountsUnder(dir)...)
		for _, d := range []string{
			filepath.Join(e.ContainerdRoot(), "io.containerd.grpc.v1.cri", "sandboxes"),
			filepath.Join(e.ContainerdState(), "io.containerd.grpc.v1.cri", "sandboxes"),
			filepath.Join(e.ContainerdRoot(), "io.containerd.sandbox.controller.v1.shim", "k8s.io"),
			filepath.Join(e.ContainerdState(), "io.containerd.sandbox.controller.v1.shim", "k8s.io"),
		} {
			for _, name := range entries(d) {
				left = append(left, filepath.Join(d, name))
			}
		}
		if after := entries("/var/run/netns"); len(after) > len(netnsBefore) {
			left = append(left, fmt.Sprintf("network namespace pins: %d before, %d after", len(netnsBefore), len(after)))
		}
		for _, id := range ids {
			if cg := hoststate.CgroupDirs(id); len(cg) > 0 {
				left = append(left, cg...)
			}
		}
		if len(left) > 0 {
			sort.Strings(left)
			if len(left) > 10 {
				left = append(left[:10], fmt.Sprintf("... %d more", len(left)-10))
			}
			t.Errorf("%d pods of %s left: %s", n, h, strings.Join(left, "; "))
		}
	}
}

// churnPods runs n pod cycles of handler, width at a time, and returns the
// pod ids and the failures.
func churnPods(e *crienv.Env, crictl, handler, podCfg string, n, width int) ([]string, []string) {
	var mu sync.Mutex
	var ids, failures []string
	work := make(chan int)
	var wg sync.WaitGroup
	for range width {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				out, err := e.Crictl(ctx, crictl, "runp", "--runtime", handler, podCfgFor(podCfg, i))
				id := strings.TrimSpace(string(out))
				if err == nil {
					if out, err2 := e.Crictl(ctx, crictl, "stopp", id); err2 != nil {
						err = fmt.Errorf("stopp: %w: %s", err2, out)
					} else if out, err2 := e.Crictl(ctx, crictl, "rmp", id); err2 != nil {
						err = fmt.Errorf("rmp: %w: %s", err2, out)
					}
				}
				cancel()
				mu.Lock()
				if id != "" {
					ids = append(ids, id)
				}
				if err != nil {
					failures = append(failures, fmt.Sprintf("cycle %d: %v", i, err))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return ids, failures
}

// podCfgFor writes a pod config of its own for cycle i (a pod's name and
// uid are unique among live pods) next to base.
func podCfgFor(base string, i int) string {
	path := strings.TrimSuffix(base, ".json") + "-" + strconv.Itoa(i) + ".json"
	config := fmt.Sprintf(`{"metadata": {"name": "churn-%d", "namespace": "default", "uid": "churn-%d-uid"}, "linux": {}}`, i, i)
	_ = os.WriteFile(path, []byte(config), 0o644)
	return path
}

// entries lists a directory's names; none if it does not exist.
func entries(dir string) []string {
	des, _ := os.ReadDir(dir)
	names := make([]string, 0, len(des))
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}
