// Package cri is the Kubernetes CRI lane (make test-cri): cri-tools'
// validation suite, critest v1.34.0, run against the CRI plugin of
// containerd 2.2.1, 2.3.7 and 1.6.20 with containerd's runc shim (runc
// v1.5.2) and with berth's handlers, side by side. A test that passes with
// the runc shim must pass with each version's gate handler (containerdVersions).
package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/crienv"
	"github.com/berth-oci/berth/integration/ginkgoreport"
	"github.com/berth-oci/berth/integration/hoststate"
	"github.com/berth-oci/berth/internal/testutil"
	berth "github.com/berth-oci/berth/runtime"
)

// env reads a required path from the environment (make test-cri sets them).
func env(t *testing.T, name string) string {
	t.Helper()
	return testutil.Binary(t, name, "")
}

// hostNetworkPanicSkip is what the shim-sandboxer handler's suite leaves
// out on containerd 2.2.1, for a reason outside berth: containerd 2.2.1
// panics (nil spec in core/runtime/v2.NewBundle) on a host-network pod of
// any handler with sandboxer = "shim", before the shim is reached
// (containerd#12983; 2.2.9 still panics there, 2.3.7 does not), which takes the
// rest of the suite down with it.
var hostNetworkPanicSkip = map[string]string{
	crienv.HandlerBerthSandbox: "HostNetwork is true|portforward in host network",
}

// skipped reports whether the test name is one v's suite leaves out for
// handler.
func (v containerdVersion) skipped(handler, name string) bool {
	skip := v.skip[handler]
	return skip != "" && regexp.MustCompile(skip).MatchString(name)
}

// runCritest runs the suite with one runtime handler.
func runCritest(t *testing.T, critest, endpoint, handler, dir, skip string) ginkgoreport.Results {
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
	args := []string{"--runtime-endpoint", endpoint, "--image-endpoint", endpoint,
		"--runtime-handler", handler, "--ginkgo.no-color", "--ginkgo.json-report", report}
	focus := os.Getenv("CRITEST_FOCUS")
	if focus == "" && systemdLane() {
		focus = systemdFocus
	}
	if focus != "" {
		// For a quicker run by hand: make test-cri CRITEST_FOCUS=regexp.
		args = append(args, "--ginkgo.focus", focus)
	}
	if skip != "" {
		args = append(args, "--ginkgo.skip", skip)
	}
	if n := critestParallel(); n > 1 {
		// critest hands the suite to the ginkgo CLI (installed beside it
		// by make setup) with that many worker processes.
		args = append(args, "--parallel", strconv.Itoa(n))
	}
	cmd := exec.CommandContext(ctx, critest, args...)
	cmd.Dir = dir
	// critest's temporary files (a dir per parallel run that it leaves
	// behind, the log dirs of its pods) go under the lane's dir, removed
	// with it.
	tmp := filepath.Join(dir, "critest-tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(critest)+string(os.PathListSeparator)+os.Getenv("PATH"), "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("critest with %s: %s (%v)", handler, time.Since(start).Round(time.Second), runErr)
	out, err := ginkgoreport.Read(report)
	if err != nil {
		t.Fatalf("critest with %s: %v; its log is %s", handler, err, logPath)
	}
	return out
}

// containerdVersion is one containerd the lane runs the suite under.
type containerdVersion struct {
	name          string
	binary        string // env var naming containerd
	shimRunc      string // env var naming its containerd-shim-runc-v2
	configVersion int
	handlers      []string
	// gate is the berth handler that must pass what the runc shim passes.
	gate string
	// skip is, per handler, a ginkgo regexp of the tests its suite leaves
	// out (for a reason outside berth).
	skip map[string]string
}

var containerdVersions = []containerdVersion{
	{"2.2.1", "CONTAINERD_22", "CONTAINERD_22_SHIM_RUNC", 3,
		[]string{crienv.HandlerRunc, crienv.HandlerBerth, crienv.HandlerBerthNative, crienv.HandlerBerthSharedPods, crienv.HandlerBerthSandbox}, crienv.HandlerBerth,
		hostNetworkPanicSkip},
	// containerd 2.2.1 reads a handler's features (user namespaces,
	// recursive read-only mounts) only for the runc runtime type, and it
	// (2.2.9 still) panics on a host-network pod of a shim sandboxer; 2.3
	// does neither, so there the pod sandbox handler (berth's own runtime
	// type) must pass the whole suite as the runc shim does.
	{"2.3.7", "CONTAINERD_23", "CONTAINERD_23_SHIM_RUNC", 3,
		[]string{crienv.HandlerRunc, crienv.HandlerBerthSandbox}, crienv.HandlerBerthSandbox,
		nil},
	// containerd 1.6.20's CRI ignores runtime_path (its pods run under the
	// runc shim: checked below), and 1.x reads no runtime features, so
	// berth's own runtime type is the one to use there.
	{"1.6", "CONTAINERD_16", "CONTAINERD_16_SHIM_RUNC", 2,
		[]string{crienv.HandlerRunc, crienv.HandlerBerthNative}, crienv.HandlerBerthNative,
		nil},
}

// TestCRI runs critest under each containerd version with containerd's
// runc shim, with berth as the runc runtime type's runtime_path (the
// configuration the README gives) and, on containerd 2.x, with berth's own
// runtime type, and fails where the runc shim passes a test and berth
// (runtime_path) does not. The versions run one after the other: they
// share the suite's host ports.
func TestCRI(t *testing.T) {
	testutil.RequireRoot(t, "runs containerd and pods")
	versions := containerdVersions
	if systemdLane() {
		versions = []containerdVersion{systemdVersion}
	}
	for _, v := range versions {
		t.Run("containerd-"+v.name, func(t *testing.T) { testCRI(t, v) })
	}
}

func testCRI(t *testing.T, v containerdVersion) {
	cfg := crienv.ConfigFromEnv(t, v.binary, v.shimRunc, v.configVersion)
	cfg.SystemdCgroup = systemdLane()
	crictl, critest := env(t, "CRICTL"), env(t, "CRITEST")
	e, dir := startEnv(t, cfg, crictl, "berth-cri")
	ctx := context.Background()
	for _, h := range v.handlers {
		want := "containerd-shim-berth-v2"
		if h == crienv.HandlerRunc {
			want = "containerd-shim-runc-v2"
		}
		if got := shimOfPod(t, crictl, e, dir, h); !strings.Contains(got, want) {
			t.Fatalf("a pod of handler %s is served by %q, not %s: the lane would compare the wrong runtimes", h, got, want)
		}
	}
	byHandler := map[string]ginkgoreport.Results{}
	only := os.Getenv("BERTH_CRI_CRITEST_HANDLERS") // for a run by hand: "runc,berth-sandbox"
	for _, h := range v.handlers {
		if only != "" && !slices.Contains(strings.Split(only, ","), h) {
			t.Logf("critest with %s skipped: not in BERTH_CRI_CRITEST_HANDLERS", h)
			continue
		}
		if os.Getenv("BERTH_CRI_SKIP_CRITEST") == "1" {
			// For a run by hand of the checks below (make test never sets it).
			t.Logf("critest with %s skipped: BERTH_CRI_SKIP_CRITEST=1", h)
			continue
		}
		byHandler[h] = runCritest(t, critest, e.Endpoint(), h, dir, v.skip[h])
		if err := e.RemoveAllPods(ctx, crictl); err != nil {
			t.Errorf("remove pods after %s: %v", h, err)
		}
	}
	probed := []string{crienv.HandlerRunc, v.gate}
	if systemdLane() {
		probed = append(probed, crienv.HandlerBerthNative)
	}
	for _, h := range probed {
		checkUpdateThenExec(t, crictl, e, dir, h, env(t, "RUNC_BINARY"))
	}
	if v.gate == crienv.HandlerBerthSandbox && !systemdLane() {
		checkNamespaceModes(t, crictl, e, dir)
	}
	if systemdLane() {
		checkStatsSideBySide(t, crictl, e, dir, v.gate)
		checkCheckpointSideBySide(t, crictl, e, dir, v.gate)
	} else if v.gate == crienv.HandlerBerth {
		checkSystemdCgroupRefused(t, crictl, e, dir)
		checkPodDaemons(t, crictl, e, dir)
		checkSharedDaemonUpgrade(t, crictl, e, dir)
		checkSandboxPods(t, crictl, e, dir)
	}
	runc := byHandler[crienv.HandlerRunc]
	fmt.Printf("critest v1.34.0 on containerd %s, per runtime handler:\n", v.name)
	for _, h := range v.handlers {
		r, ran := byHandler[h]
		if !ran {
			fmt.Printf("  %-18s not run (BERTH_CRI_SKIP_CRITEST or BERTH_CRI_CRITEST_HANDLERS)\n", h)
			continue
		}
		fmt.Printf("  %-18s %3d passed, %3d failed, %3d skipped\n", h, r.Count(ginkgoreport.Passed), r.Count(ginkgoreport.Failed), r.Count(ginkgoreport.Skipped))
	}
	for _, h := range v.handlers[1:] {
		if _, ran := byHandler[h]; !ran {
			continue
		}
		worse, better := ginkgoreport.Compare(runc, byHandler[h])
		for _, n := range worse {
			fmt.Printf("  passes with runc, not with %s: %s\n", h, n)
		}
		for _, n := range better {
			fmt.Printf("  passes with %s, not with runc: %s\n", h, n)
		}
		if (h == v.gate || h == crienv.HandlerBerthSharedPods) && len(worse) > 0 {
			t.Errorf("%d tests pass with the runc shim and not with %s; logs in %s", len(worse), h, dir)
		}
	}
	// Pods without a pause container against pods with one, under the
	// same runtime type (berth's, which reads no runtime features: the
	// user namespace and recursive read-only tests are skipped under
	// both): what passes with a pause container must pass without.
	if native, ok := byHandler[crienv.HandlerBerthNative]; ok {
		if sandbox, ok := byHandler[crienv.HandlerBerthSandbox]; ok {
			var worse []string
			for name, state := range native {
				if state == ginkgoreport.Passed && sandbox[name] != ginkgoreport.Passed && !v.skipped(crienv.HandlerBerthSandbox, name) {
					worse = append(worse, fmt.Sprintf("%s (%s)", name, sandbox[name]))
				}
			}
			sort.Strings(worse)
			for _, n := range worse {
				fmt.Printf("  passes with %s, not with %s: %s\n", crienv.HandlerBerthNative, crienv.HandlerBerthSandbox, n)
			}
			if len(worse) > 0 {
				t.Errorf("%d tests pass with a pause container (%s) and not without (%s); logs in %s", len(worse), crienv.HandlerBerthNative, crienv.HandlerBerthSandbox, dir)
			}
		}
	}
	var runcFailed []string
	for name, state := range runc {
		if state == ginkgoreport.Failed {
			runcFailed = append(runcFailed, name)
		}
	}
	sort.Strings(runcFailed)
	for _, name := range runcFailed {
		fmt.Printf("  fails with the runc shim too: %s\n", name)
	}
}

// startEnv starts the CRI environment cfg (its Dir made here, under a
// name prefix) and removes at the test's end every pod, then the
// environment, restoring the host's network state; it keeps the logs of a
// failed test, and fails the test on a mount left behind.
func startEnv(t *testing.T, cfg crienv.Config, crictl, prefix string) (*crienv.Env, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
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
	return e, dir
}

// podConfig writes a minimal pod sandbox configuration named name into dir
// and returns its path.
func podConfig(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name+"-pod.json")
	linux := "{}"
	if systemdLane() {
		// The systemd driver takes a slice as the pod's parent, as the
		// kubelet gives one.
		linux = `{"cgroup_parent": "/berthlane.slice"}`
	}
	config := fmt.Sprintf(`{"metadata": {"name": %q, "namespace": "default", "uid": "%s-uid"}, "linux": %s}`, name, name, linux)
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// shimOfPod runs a pod with the handler and returns the command line of
// the process that serves it (the parent of its pause process), then
// removes the pod.
func shimOfPod(t *testing.T, crictlBin string, e *crienv.Env, dir, handler string) string {
	t.Helper()
	_, cmdline, remove := podShim(t, crictlBin, e, dir, handler, "probe-"+handler)
	remove()
	return cmdline
}

// podShim runs a pod named name with handler and returns the pid and
// command line of the shim serving it, and a function removing the pod.
func podShim(t *testing.T, crictlBin string, e *crienv.Env, dir, handler, name string) (int, string, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := e.Crictl(ctx, crictlBin, "runp", "--runtime", handler, podConfig(t, dir, name))
	if err != nil {
		t.Fatalf("run a pod with %s: %v: %s", handler, err, out)
	}
	id := strings.TrimSpace(string(out))
	remove := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_, _ = e.Crictl(ctx, crictlBin, "stopp", id)
		_, _ = e.Crictl(ctx, crictlBin, "rmp", id)
	}
	info, err := e.Crictl(ctx, crictlBin, "inspectp", "-o", "json", id)
	if err != nil {
		remove()
		t.Fatalf("inspectp %s: %v: %s", id, err, info)
	}
	var st struct{ Info struct{ Pid int } }
	if err := json.Unmarshal(info[strings.IndexByte(string(info), '{'):], &st); err != nil || st.Info.Pid == 0 {
		remove()
		t.Fatalf("inspectp %s: no pid (%v): %s", id, err, info)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.Info.Pid))
	if err != nil {
		remove()
		t.Fatal(err)
	}
	var ppid int
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			_, _ = fmt.Sscan(strings.TrimSpace(v), &ppid)
		}
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", ppid))
	return ppid, strings.ReplaceAll(string(cmdline), "\x00", " "), remove
}

// checkPodDaemons: two pods of the berth handler have a shim daemon each
// (as with the runc shim); two pods of the handler whose shim runs with
// BERTH_SHIM_POD_DAEMON=shared have one daemon between them.
func checkPodDaemons(t *testing.T, crictlBin string, e *crienv.Env, dir string) {
	t.Helper()
	for _, tc := range []struct {
		handler string
		shared  bool
	}{{crienv.HandlerBerth, false}, {crienv.HandlerBerthSharedPods, true}} {
		pid1, _, remove1 := podShim(t, crictlBin, e, dir, tc.handler, "daemon-1-"+tc.handler)
		pid2, _, remove2 := podShim(t, crictlBin, e, dir, tc.handler, "daemon-2-"+tc.handler)
		remove1()
		remove2()
		if (pid1 == pid2) != tc.shared {
			t.Errorf("handler %s: the shims of two pods are pids %d and %d; want one daemon: %v", tc.handler, pid1, pid2, tc.shared)
		} else {
			fmt.Printf("two pods of %s: shim daemons %d and %d\n", tc.handler, pid1, pid2)
		}
	}
}

// checkSystemdCgroupRefused: a pod of a runtime handler whose options ask
// for the systemd cgroup driver fails, on a host without systemd, with an
// error naming the option, and leaves no pod behind.
func checkSystemdCgroupRefused(t *testing.T, crictlBin string, e *crienv.Env, dir string) {
	t.Helper()
	if berth.SystemdAvailable() {
		t.Log("systemd runs this host: SystemdCgroup = true is honoured, not refused")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := e.Crictl(ctx, crictlBin, "runp", "--runtime", crienv.HandlerBerthSystemd, podConfig(t, dir, "systemd-cgroup"))
	if err == nil || !strings.Contains(err.Error(), "SystemdCgroup") {
		t.Errorf("pod with SystemdCgroup = true on a host without systemd: %v: %s; want an error naming SystemdCgroup", err, out)
	}
	pods, err := e.Crictl(ctx, crictlBin, "pods", "-q")
	if err != nil || strings.TrimSpace(string(pods)) != "" {
		t.Errorf("pods left after the refused one: %q, %v", pods, err)
	}
}

// critestParallel is how many ginkgo workers critest runs its specs on:
// CRITEST_PARALLEL, or 1 (one process) where it is unset or where the
// ginkgo CLI is not beside critest.
func critestParallel() int {
	n, err := strconv.Atoi(os.Getenv("CRITEST_PARALLEL"))
	if err != nil || n < 2 {
		return 1
	}
	if _, err := exec.LookPath(filepath.Join(filepath.Dir(os.Getenv("CRITEST")), "ginkgo")); err != nil {
		return 1
	}
	return n
}
