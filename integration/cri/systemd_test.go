package cri

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/crienv"
)

// systemdLane says the lane runs on a host with systemd as pid 1 and pure
// cgroup v2 (BERTH_CRI_SYSTEMD=1, set by make test-vm-systemd in its VM):
// the runc shim's and berth's handlers then use the systemd cgroup driver,
// as kubeadm's nodes do, and critest runs systemdFocus.
func systemdLane() bool { return os.Getenv("BERTH_CRI_SYSTEMD") == "1" }

// systemdVersion is the containerd of the systemd lane: containerd 2.2.1,
// the runc shim beside berth as runtime_path of the runc runtime type and
// berth's own runtime type, each with SystemdCgroup = true (berth's type
// reads it from the TOML containerd hands it).
var systemdVersion = containerdVersion{"2.2-systemd", "CONTAINERD_22", "CONTAINERD_22_SHIM_RUNC", 3,
	[]string{crienv.HandlerRunc, crienv.HandlerBerth, crienv.HandlerBerthNative}, crienv.HandlerBerth, nil}

// systemdFocus is the part of critest the systemd lane runs, one test for
// each area the kubelet leans on, chosen to fit the lane's 12 minutes
// under qemu's emulation with three handlers (the 17 tests of an earlier
// subset took 2.5 minutes a handler there): pod lifecycle, a container's
// whole lifecycle (created, started, stopped, removed), ExecSync, logs,
// the security context's user and capabilities, a user-namespaced pod and
// recursive read-only mounts. Update then exec and the stats the kubelet
// reads are checked apart (checkUpdateThenExec, checkStatsSideBySide);
// make test-cri runs the whole suite on the host. OOMKilled is left out,
// as containerd's own CI leaves it out under the systemd driver
// (containerd#12714, #12819): critest's hog is the init, and systemd
// removes the scope with it, at times before any shim read its oom_kill
// counter (runc#5071), with the runc shim as with berth. The lane's
// checks of OOM under systemd (test-vm-systemd) are the CLI's and ctr's.
const systemdFocus = `PodSandbox runtime should support basic operations|` +
	`should support removing running container \[|should support execSync \[|` +
	`should support starting container with log|` +
	`Security Context bucket runtime should support (RunAsUser$|dropping capability)|` +
	`NamespaceMode_POD|should support recursive readonly mounts`

// checkStatsSideBySide reads the stats the kubelet reads, ListContainerStats
// and ListPodSandboxStats, for a running container of each handler, and
// fails where the runc shim reports a field that berth does not, or where
// berth reports no working set. The fields of each are logged.
func checkStatsSideBySide(t *testing.T, crictlBin string, e *crienv.Env, dir, gate string) {
	t.Helper()
	fields := map[string]map[string]bool{}
	for _, h := range []string{crienv.HandlerRunc, gate} {
		fields[h] = statsFields(t, crictlBin, e, dir, h)
	}
	var missing []string
	for f := range fields[crienv.HandlerRunc] {
		if !fields[gate][f] {
			missing = append(missing, f)
		}
	}
	sort.Strings(missing)
	fmt.Printf("stats as the kubelet reads them: runc shim %d fields, %s %d; missing with %s: %v\n",
		len(fields[crienv.HandlerRunc]), gate, len(fields[gate]), gate, missing)
	if len(missing) > 0 {
		t.Errorf("stats fields the runc shim reports and %s does not: %v", gate, missing)
	}
	for _, f := range []string{"container.memory.workingSetBytes.value", "sandbox.linux.containers.memory.workingSetBytes.value"} {
		if !fields[gate][f] {
			t.Errorf("%s reports no %s", gate, f)
		}
	}
}

// statsFields runs a pod with a container of handler and returns the
// non-zero fields of its container stats and pod sandbox stats.
func statsFields(t *testing.T, crictlBin string, e *crienv.Env, dir, handler string) map[string]bool {
	t.Helper()
	probe := startProbe(t, crictlBin, e, dir, handler, "stats-"+handler,
		`["sh", "-c", "x=aaaaaaaaaaaaaaaa; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do x=$x$x; done; sleep 300"]`)
	defer probe.remove()
	id, pod, crictl := probe.id, probe.pod, probe.crictl
	time.Sleep(3 * time.Second)
	out := map[string]bool{}
	var c, p map[string]any
	cs := crictl("stats", "-o", "json", "--id", id)
	if err := json.Unmarshal([]byte(cs), &c); err != nil {
		t.Fatalf("handler %s: crictl stats: %v: %s", handler, err, cs)
	}
	ps := crictl("statsp", "-o", "json", "--id", pod)
	if err := json.Unmarshal([]byte(ps), &p); err != nil {
		t.Fatalf("handler %s: crictl statsp: %v: %s", handler, err, ps)
	}
	t.Logf("handler %s: ListContainerStats %s", handler, cs)
	t.Logf("handler %s: ListPodSandboxStats %s", handler, ps)
	flatten("container", first(c["stats"]), out)
	flatten("sandbox", first(p["stats"]), out)
	return out
}

// first is the first element of a JSON list, or nil.
func first(v any) any {
	if l, ok := v.([]any); ok && len(l) > 0 {
		return l[0]
	}
	return nil
}

// flatten records the dotted paths of the non-zero leaves of v, dropping
// list indices, ids and timestamps, which differ from run to run, and the
// writable layer's usage.
func flatten(prefix string, v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			// writableLayer comes from the snapshotter, not the runtime,
			// and on its own schedule.
			if k == "attributes" || k == "timestamp" || k == "writableLayer" {
				continue
			}
			flatten(prefix+"."+k, c, out)
		}
	case []any:
		for _, c := range x {
			flatten(prefix, c, out)
		}
	case string:
		if x != "" && x != "0" {
			out[prefix] = true
		}
	case float64:
		if x != 0 {
			out[prefix] = true
		}
	case bool:
		out[prefix] = true
	}
}
