package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/crienv"
)

// The CRI's NamespaceMode values, as crictl's JSON configs take them.
var namespaceModes = map[int]string{0: "POD", 1: "CONTAINER", 2: "NODE"}

// nsModeCase is a pod whose namespace kind has mode pod, with one
// container for each of ctrs, asking for that mode of the same kind.
type nsModeCase struct {
	kind string // the CRI's option: pid, ipc or network
	pod  int
	ctrs []int
}

// pairKey names the pair of the case's pod mode and container mode m.
func (c nsModeCase) pairKey(m int) string {
	return fmt.Sprintf("pod %s=%s, container %s=%s", c.kind, namespaceModes[c.pod], c.kind, namespaceModes[m])
}

// nsModeCases mix pod and container modes: every pair for the pid
// namespace, and POD and NODE (the modes a pod takes) for IPC and network.
var nsModeCases = []nsModeCase{
	{"pid", 0, []int{0, 1, 2}}, {"pid", 1, []int{0, 1, 2}}, {"pid", 2, []int{0, 1, 2}},
	{"ipc", 0, []int{0, 2}}, {"ipc", 2, []int{0, 2}},
	{"network", 0, []int{0, 2}}, {"network", 2, []int{0, 2}},
}

// checkNamespaceModes runs, for each handler, a pod and containers of
// every case of nsModeCases, and fails where a container of the pod
// sandbox handler sees a namespace (pid, ipc, uts, net) that is not what
// it is under the runc shim: the host's, the pod's (its sandbox
// process's: pause, or berth's holder) or its own. A container the runc
// shim refuses must be refused too.
func checkNamespaceModes(t *testing.T, crictlBin string, e *crienv.Env, dir string) {
	t.Helper()
	want := namespaceViews(t, crictlBin, e, dir, crienv.HandlerRunc)
	got := namespaceViews(t, crictlBin, e, dir, crienv.HandlerBerthSandbox)
	same := 0
	for _, c := range nsModeCases {
		for _, m := range c.ctrs {
			key := c.pairKey(m)
			if got[key] != want[key] {
				t.Errorf("%s: a container of a %s pod sees %s; under the runc shim %s", key, crienv.HandlerBerthSandbox, got[key], want[key])
				continue
			}
			same++
			fmt.Printf("  namespace modes, %s: %s\n", key, got[key])
		}
	}
	fmt.Printf("handler %s: %d namespace mode pairs as under the runc shim\n", crienv.HandlerBerthSandbox, same)
}

// namespaceViews runs the cases under handler and returns, per pair of
// modes, which namespaces the container has: for each kind, "host",
// "pod" or "own" (or that its creation or start was refused).
func namespaceViews(t *testing.T, crictlBin string, e *crienv.Env, dir, handler string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	views := map[string]string{}
	for i, c := range nsModeCases {
		name := fmt.Sprintf("ns-%s-%d", handler, i)
		podCfg := filepath.Join(dir, name+"-pod.json")
		writeJSON(t, podCfg, fmt.Sprintf(`{"metadata": {"name": %q, "namespace": "default", "uid": "%s-uid"},
			"linux": {"security_context": {"namespace_options": {%q: %d}}}}`, name, name, c.kind, c.pod))
		out, err := e.Crictl(ctx, crictlBin, "runp", "--runtime", handler, podCfg)
		if err != nil {
			t.Fatalf("handler %s: runp with %s mode %s: %v: %s", handler, c.kind, namespaceModes[c.pod], err, out)
		}
		pod := strings.TrimSpace(string(out))
		sandboxPid := podPid(t, ctx, crictlBin, e, pod)
		for _, m := range c.ctrs {
			key := c.pairKey(m)
			views[key] = containerNamespaces(t, ctx, crictlBin, e, dir, pod, podCfg, sandboxPid, c.kind, m)
		}
		_, _ = e.Crictl(context.Background(), crictlBin, "stopp", pod)
		_, _ = e.Crictl(context.Background(), crictlBin, "rmp", pod)
	}
	return views
}

// containerNamespaces starts a container in pod with namespace kind in
// mode, and says which of its namespaces are the host's, the pod's (those
// of the sandbox process sandboxPid) or its own.
func containerNamespaces(t *testing.T, ctx context.Context, crictlBin string, e *crienv.Env, dir, pod, podCfg string, sandboxPid int, kind string, mode int) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", kind, mode)
	ctrCfg := filepath.Join(dir, pod[:12]+"-"+name+"-ctr.json")
	writeJSON(t, ctrCfg, fmt.Sprintf(`{"metadata": {"name": %q}, "image": {"image": %q}, "command": ["sleep", "300"],
		"linux": {"security_context": {"namespace_options": {%q: %d}}}}`, name, probeImage, kind, mode))
	out, err := e.Crictl(ctx, crictlBin, "create", pod, ctrCfg, podCfg)
	if err != nil {
		return "refused at create"
	}
	id := strings.TrimSpace(string(out))
	defer func() { _, _ = e.Crictl(context.Background(), crictlBin, "rm", "-f", id) }()
	if _, err := e.Crictl(ctx, crictlBin, "start", id); err != nil {
		return "refused at start"
	}
	kinds := []string{"pid", "ipc", "uts", "net"}
	out, err = e.Crictl(ctx, crictlBin, "exec", "--sync", id, "sh", "-c",
		"for k in "+strings.Join(kinds, " ")+"; do readlink /proc/self/ns/$k; done")
	if err != nil {
		t.Fatalf("exec in a container with %s mode %s: %v: %s", kind, namespaceModes[mode], err, out)
	}
	seen := strings.Fields(string(out))
	if len(seen) != len(kinds) {
		t.Fatalf("exec in a container with %s mode %s: %q", kind, namespaceModes[mode], out)
	}
	var view []string
	for i, k := range kinds {
		host, _ := os.Readlink("/proc/self/ns/" + k)
		ofPod, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", sandboxPid, k))
		whose := "own"
		switch seen[i] {
		case host:
			whose = "host"
		case ofPod:
			whose = "pod"
		}
		view = append(view, k+"="+whose)
	}
	return strings.Join(view, " ")
}

// podPid is the pid of pod's sandbox process (pause, or the holder).
func podPid(t *testing.T, ctx context.Context, crictlBin string, e *crienv.Env, pod string) int {
	t.Helper()
	out, err := e.Crictl(ctx, crictlBin, "inspectp", "-o", "json", pod)
	if err != nil {
		t.Fatalf("inspectp %s: %v: %s", pod, err, out)
	}
	var st struct{ Info struct{ Pid int } }
	if i := strings.IndexByte(string(out), '{'); i < 0 || json.Unmarshal(out[i:], &st) != nil || st.Info.Pid == 0 {
		t.Fatalf("inspectp %s: no pid: %s", pod, out)
	}
	return st.Info.Pid
}

// writeJSON writes a crictl config.
func writeJSON(t *testing.T, path, config string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
}
