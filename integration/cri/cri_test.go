// Package cri is the Kubernetes CRI lane (make test-cri): cri-tools'
// validation suite, critest v1.34.0, run against containerd 2.2.1's CRI
// plugin with containerd's runc shim (runc v1.5.2) and with berth, side by
// side. A test that passes with the runc shim must pass with berth.
package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/crienv"
	"github.com/berth-oci/berth/integration/hoststate"
)

// env reads a required path from the environment (make test-cri sets them).
func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set (run make test-cri)", name)
	}
	abs, err := filepath.Abs(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("%s: %v (run make test-cri)", name, err)
	}
	return abs
}

// specReport is the part of ginkgo's JSON report the lane reads.
type specReport struct {
	ContainerHierarchyTexts []string
	LeafNodeText            string
	LeafNodeType            string
	State                   string
	Failure                 *struct{ Message string }
}

// results maps a test's full name to its state: passed, failed, skipped.
type results map[string]string

func (r results) count(state string) int {
	n := 0
	for _, s := range r {
		if s == state {
			n++
		}
	}
	return n
}

// runCritest runs the suite with one runtime handler.
func runCritest(t *testing.T, critest, endpoint, handler, dir string) results {
	t.Helper()
	report := filepath.Join(dir, "critest-"+handler+".json")
	logPath := filepath.Join(dir, "critest-"+handler+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, critest, "--runtime-endpoint", endpoint, "--image-endpoint", endpoint,
		"--runtime-handler", handler, "--ginkgo.no-color", "--ginkgo.json-report", report)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("critest with %s: %s (%v)", handler, time.Since(start).Round(time.Second), runErr)
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("critest with %s wrote no report (%v); its log is %s", handler, err, logPath)
	}
	var reports []struct{ SpecReports []specReport }
	if err := json.Unmarshal(data, &reports); err != nil {
		t.Fatalf("critest report %s: %v", report, err)
	}
	out := results{}
	for _, rep := range reports {
		for _, s := range rep.SpecReports {
			if s.LeafNodeType != "It" {
				continue
			}
			name := strings.Join(append(s.ContainerHierarchyTexts, s.LeafNodeText), " ")
			state := s.State
			if state == "pending" {
				state = "skipped"
			}
			out[name] = state
		}
	}
	return out
}

// TestCRI runs critest with containerd's runc shim, with berth as the
// runc runtime type's runtime_path (the configuration the README gives
// for containerd 2.x) and with berth's own runtime type, and fails where
// the runc shim passes a test and berth (runtime_path) does not.
func TestCRI(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs containerd and pods")
	}
	cfg := crienv.Config{
		Containerd:  env(t, "CONTAINERD_22"),
		ShimDir:     filepath.Dir(env(t, "CONTAINERD_SHIM_RUNC")),
		Runc:        env(t, "RUNC_BINARY"),
		BerthShim:   env(t, "BERTH_SHIM"),
		Crane:       env(t, "CRANE"),
		CNIBinDir:   env(t, "CNI_BIN_DIR"),
		GoBin:       env(t, "BERTH_GO"),
		BusyboxRoot: env(t, "BUSYBOX_DYNAMIC_ROOT"),
	}
	crictl, critest := env(t, "CRICTL"), env(t, "CRITEST")
	dir, err := os.MkdirTemp("", "berth-cri")
	if err != nil {
		t.Fatal(err)
	}
	// Searchable by all: user-namespaced pods reach their rootfs below it.
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	cfg.Dir = dir
	ctx := context.Background()
	e, err := crienv.Start(ctx, cfg)
	t.Cleanup(func() {
		if err := e.RemoveAllPods(ctx, crictl); err != nil {
			t.Errorf("remove pods: %v", err)
		}
		if err := e.Close(); err != nil {
			t.Errorf("restore host state: %v", err)
		}
		if m := hoststate.MountsUnder(dir); len(m) > 0 {
			t.Errorf("mounts left under %s: %v", dir, m)
		} else if !t.Failed() {
			_ = os.RemoveAll(dir)
		} else {
			t.Logf("logs kept in %s", dir)
		}
	})
	if err != nil {
		t.Fatalf("CRI environment: %v\ncontainerd log:\n%s", err, e.Log())
	}
	byHandler := map[string]results{}
	for _, h := range []string{crienv.HandlerRunc, crienv.HandlerBerth, crienv.HandlerBerthNative} {
		byHandler[h] = runCritest(t, critest, e.Endpoint(), h, dir)
		if err := e.RemoveAllPods(ctx, crictl); err != nil {
			t.Errorf("remove pods after %s: %v", h, err)
		}
	}
	runc := byHandler[crienv.HandlerRunc]
	fmt.Println("critest v1.34.0 on containerd 2.2.1, per runtime handler:")
	for _, h := range []string{crienv.HandlerRunc, crienv.HandlerBerth, crienv.HandlerBerthNative} {
		r := byHandler[h]
		fmt.Printf("  %-13s %3d passed, %3d failed, %3d skipped\n", h, r.count("passed"), r.count("failed"), r.count("skipped"))
	}
	for _, h := range []string{crienv.HandlerBerth, crienv.HandlerBerthNative} {
		var worse, better []string
		for name, state := range runc {
			got := byHandler[h][name]
			switch {
			case state == "passed" && got != "passed":
				worse = append(worse, fmt.Sprintf("%s (%s)", name, got))
			case state != "passed" && got == "passed":
				better = append(better, fmt.Sprintf("%s (runc shim: %s)", name, state))
			}
		}
		sort.Strings(worse)
		sort.Strings(better)
		for _, n := range worse {
			fmt.Printf("  passes with runc, not with %s: %s\n", h, n)
		}
		for _, n := range better {
			fmt.Printf("  passes with %s, not with runc: %s\n", h, n)
		}
		if h == crienv.HandlerBerth && len(worse) > 0 {
			t.Errorf("%d tests pass with the runc shim and not with berth (runtime_path); logs in %s", len(worse), dir)
		}
	}
	for name, state := range runc {
		if state == "failed" {
			fmt.Printf("  fails with the runc shim too: %s\n", name)
		}
	}
}
