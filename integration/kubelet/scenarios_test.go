package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/crienv"
	"github.com/berth-oci/berth/integration/ginkgoreport"
	"github.com/berth-oci/berth/integration/hoststate"
	"github.com/berth-oci/berth/internal/testutil"
)

// The lane's own scenarios, for what the node e2e suite has no test for:
// a kubelet of the lane's own keeps one static pod of two containers with
// exec, HTTP and TCP probes, and the pod must come through a kubelet
// restart, a containerd restart and, for berth's handlers, an in-place
// upgrade of berth's shim: the same containers (ids), restart counts
// unchanged, ready, its exec readiness probe still followed (the lane
// makes it fail, then pass again) and its log still written. The kubelet
// registers with the suite's API server, run apart (apiserver_test.go),
// for a pod resized in place (resize_test.go).
const (
	scenarioKubeletRestart    = "[lane] the kubelet restarted: the pod keeps its containers, restart counts and probes"
	scenarioContainerdRestart = "[lane] containerd restarted: the pod keeps its containers, restart counts and probes"
	scenarioShimUpgrade       = "[lane] berth's shim upgraded in place under a running kubelet: the pod keeps its containers, restart counts, probes and logs"
	scenarioLogRotation       = "[lane] container logs rotated at containerLogMaxSize (10Ki, 3 files) and still read"
	scenarioSummary           = "[lane] the summary API: the pod's and each container's CPU, memory and working set"
	scenarioOOM               = "[lane] a container over its memory limit: OOMKilled, exit code 137"
	scenarioTCPLiveness       = "[lane] a TCP liveness probe failing: the kubelet restarts the container, which is live again"
)

// nodeName is the lane's kubelet's node.
const nodeName = "berth-lane"

// cgroupDriver is the kubelet's cgroup driver: KUBELET_CGROUP_DRIVER
// (systemd in the systemd VM lane), cgroupfs by default. containerd's
// handlers must use the same (crienv.Config.SystemdCgroup).
func cgroupDriver() string {
	if d := os.Getenv("KUBELET_CGROUP_DRIVER"); d != "" {
		return d
	}
	return "cgroupfs"
}

// apiServerTimeout bounds the API server's start: KUBELET_APISERVER_TIMEOUT
// (longer under the VM lane's emulation), 60 s by default (it takes about
// 3 s here).
func apiServerTimeout() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("KUBELET_APISERVER_TIMEOUT")); err == nil {
		return d
	}
	return time.Minute
}

// shortScenarios says the lane runs only the scenarios the systemd VM
// lane has time for under emulation (KUBELET_SCENARIOS=short): the pod
// ready by its probes, the summary API, logs and their rotation, the
// resize, and the pod's removal; no disruption, OOM or TCP restart.
func shortScenarios() bool { return os.Getenv("KUBELET_SCENARIOS") == "short" }

// standaloneConfig is the standalone kubelet's configuration; its
// arguments are the cgroup driver, the static pod directory and the pod
// log directory.
const standaloneConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: %s
cgroupRoot: /
failSwapOn: false
staticPodPath: %q
podLogsDir: %q
fileCheckFrequency: 1s
syncFrequency: 5s
address: 127.0.0.1
readOnlyPort: 10255
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 10Mi, nodefs.available: 1%%, imagefs.available: 1%%}
containerLogMaxSize: 10Ki
containerLogMaxFiles: 3
containerLogMonitorInterval: 3s
`

// scenarioPod is the static pod: "app" writes a numbered log line of
// about 200 bytes every 200 ms (the kubelet rotates its log every few
// seconds) and
// is probed by exec (liveness /tmp/healthy, readiness /tmp/ready); "web"
// is agnhost netexec, probed by HTTP (readiness) and TCP (liveness).
const scenarioPod = `apiVersion: v1
kind: Pod
metadata: {name: lane-app, namespace: default}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: app
    image: registry.k8s.io/e2e-test-images/busybox:1.37.0-1
    command: [sh, -c, 'touch /tmp/healthy /tmp/ready; pad=$(printf "%0180d" 0); i=0; while true; do echo "line $i $pad"; i=$((i+1)); sleep 0.2; done']
    resources: {limits: {memory: 64Mi}}
    livenessProbe: {exec: {command: [cat, /tmp/healthy]}, periodSeconds: 1, failureThreshold: 3}
    readinessProbe: {exec: {command: [cat, /tmp/ready]}, periodSeconds: 1, failureThreshold: 1}
  - name: web
    image: registry.k8s.io/e2e-test-images/agnhost:2.56
    args: [netexec, --http-port=8080]
    readinessProbe: {httpGet: {path: /hostname, port: 8080}, periodSeconds: 1}
    livenessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1, failureThreshold: 3}
`

// containerStatus is the part of a pod's container status the scenarios
// read from the kubelet's read-only port.
type containerStatus struct {
	Name         string `json:"name"`
	Ready        bool   `json:"ready"`
	RestartCount int    `json:"restartCount"`
	ContainerID  string `json:"containerID"`
	State        struct {
		Terminated *struct {
			Reason   string `json:"reason"`
			ExitCode int    `json:"exitCode"`
		} `json:"terminated"`
	} `json:"state"`
}

// podStatuses returns, by container name, the container statuses of the
// static pod whose name starts with pod (static pods get the node's name
// as a suffix), from the kubelet's read-only port; nil if it lists no
// such pod.
func podStatuses(pod string) (map[string]containerStatus, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://127.0.0.1:10255/pods")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var list struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Status struct {
				ContainerStatuses []containerStatus `json:"containerStatuses"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, err
	}
	for _, p := range list.Items {
		if strings.HasPrefix(p.Metadata.Name, pod) {
			out := map[string]containerStatus{}
			for _, c := range p.Status.ContainerStatuses {
				out[c.Name] = c
			}
			return out, nil
		}
	}
	return nil, nil
}

// standalone is a kubelet the scenarios start and stop themselves,
// registered with the API server of kubeconfig.
type standalone struct {
	bin, dir, endpoint, kubeconfig string
	cmd                            *exec.Cmd
}

func (k *standalone) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(k.dir, "standalone-kubelet.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	k.cmd = exec.Command(k.bin, "--config", filepath.Join(k.dir, "standalone.yaml"),
		"--container-runtime-endpoint", k.endpoint, "--hostname-override", nodeName,
		"--root-dir", filepath.Join(k.dir, "standalone-root"), "--kubeconfig", k.kubeconfig, "--v=2")
	k.cmd.Args = append(k.cmd.Args, cgroupFlags()...)
	k.cmd.Stdout, k.cmd.Stderr = logf, logf
	if err := k.cmd.Start(); err != nil {
		t.Fatalf("start the kubelet: %v", err)
	}
}

func (k *standalone) stop() {
	if k.cmd != nil {
		hoststate.Terminate(k.cmd, 20*time.Second)
		k.cmd = nil
	}
}

// waitStatuses waits for the scenarios' static pod, lane-app, as
// waitPodStatuses does.
func waitStatuses(t *testing.T, timeout time.Duration, what string, ok func(map[string]containerStatus) bool) map[string]containerStatus {
	t.Helper()
	return waitPodStatuses(t, "lane-app", timeout, what, ok)
}

// waitPodStatuses polls until ok holds of pod's container statuses (nil
// while the kubelet lists no such pod), or fails after timeout, naming
// what it waited for and the last statuses.
func waitPodStatuses(t *testing.T, pod string, timeout time.Duration, what string, ok func(map[string]containerStatus) bool) map[string]containerStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := podStatuses(pod)
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s (last statuses %+v, %v)", what, timeout, st, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func allReady(st map[string]containerStatus) bool {
	return len(st) == 2 && st["app"].Ready && st["web"].Ready
}

// runScenarios runs the lane's scenarios for handler h against e and
// returns their results.
func runScenarios(t *testing.T, h, bins, dir string, e *crienv.Env) ginkgoreport.Results {
	res := ginkgoreport.Results{}
	manifests := filepath.Join(dir, "manifests")
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(standaloneConfig, cgroupDriver(), manifests, filepath.Join(dir, "pod-logs"))
	if err := os.WriteFile(filepath.Join(dir, "standalone.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	api := startAPIServer(t, bins, dir, apiServerTimeout())
	k := &standalone{bin: filepath.Join(bins, "kubelet"), dir: dir, endpoint: e.Endpoint(), kubeconfig: api.kubeconfig}
	k.start(t)
	defer k.stop()
	if err := os.WriteFile(filepath.Join(manifests, "lane-app.yaml"), []byte(scenarioPod), 0o644); err != nil {
		t.Fatal(err)
	}
	var before map[string]containerStatus
	ok := t.Run("pod ready", func(t *testing.T) {
		before = waitStatuses(t, 3*time.Minute, "the static pod ready", allReady)
	})
	crictl := env(t, "CRICTL")
	disruptions := []struct {
		name    string
		disrupt func(t *testing.T)
	}{
		{scenarioKubeletRestart, func(t *testing.T) { k.stop(); k.start(t) }},
		{scenarioContainerdRestart, func(t *testing.T) {
			if err := e.RestartContainerd(context.Background()); err != nil {
				t.Fatalf("restart containerd: %v", err)
			}
		}},
		{scenarioShimUpgrade, func(t *testing.T) {
			shims := hoststate.ShimPids("containerd-shim-berth-v2", e.Socket)
			if len(shims) == 0 {
				t.Fatal("no berth shim daemon serves the pod")
			}
			for _, pid := range shims {
				testutil.UpgradeShimInPlace(t, pid, fmt.Sprintf("the pod's berth shim daemon (pid %d)", pid))
			}
		}},
	}
	for _, d := range disruptions {
		if shortScenarios() {
			break
		}
		if !ok {
			res[d.name] = ginkgoreport.Failed
			continue
		}
		if d.name == scenarioShimUpgrade && h == crienv.HandlerRunc {
			res[d.name] = ginkgoreport.Skipped // the runc shim has no in-place upgrade
			continue
		}
		passed := t.Run(d.name, func(t *testing.T) {
			id := strings.TrimPrefix(before["app"].ContainerID, "containerd://")
			lineBefore := lastLogLine(t, e, crictl, id)
			d.disrupt(t)
			checkPodIntact(t, e, crictl, before, lineBefore)
		})
		res[d.name] = map[bool]string{true: ginkgoreport.Passed, false: ginkgoreport.Failed}[passed]
	}
	if ok {
		res[scenarioSummary] = map[bool]string{true: ginkgoreport.Passed, false: ginkgoreport.Failed}[t.Run(scenarioSummary, checkSummary)]
		res[scenarioLogRotation] = map[bool]string{true: ginkgoreport.Passed, false: ginkgoreport.Failed}[t.Run(scenarioLogRotation, func(t *testing.T) {
			checkLogRotation(t, e, crictl, dir, strings.TrimPrefix(before["app"].ContainerID, "containerd://"))
		})]
	} else {
		res[scenarioSummary] = ginkgoreport.Failed
		res[scenarioLogRotation] = ginkgoreport.Failed
	}
	if !shortScenarios() {
		res[scenarioOOM] = map[bool]string{true: ginkgoreport.Passed, false: ginkgoreport.Failed}[t.Run(scenarioOOM, func(t *testing.T) {
			checkOOMKilled(t, manifests)
		})]
		res[scenarioTCPLiveness] = map[bool]string{true: ginkgoreport.Passed, false: ginkgoreport.Failed}[t.Run(scenarioTCPLiveness, func(t *testing.T) {
			checkTCPLiveness(t, e, crictl, manifests)
		})]
	}
	res[scenarioResize] = map[bool]string{true: ginkgoreport.Passed, false: ginkgoreport.Failed}[t.Run(scenarioResize, func(t *testing.T) {
		checkResize(t, api, e, crictl, nodeName)
	})]
	// The pod gone with its manifest.
	if err := os.Remove(filepath.Join(manifests, "lane-app.yaml")); err != nil {
		t.Fatal(err)
	}
	t.Run("pod removed with its manifest", func(t *testing.T) {
		waitPodStopped(t, e, crictl)
	})
	return res
}

// checkPodIntact checks the pod after a disruption: the same containers
// and restart counts as before, ready again, its exec readiness probe
// still followed, and its log still written and read (a line numbered
// past lineBefore).
func checkPodIntact(t *testing.T, e *crienv.Env, crictl string, before map[string]containerStatus, lineBefore int) {
	t.Helper()
	st := waitStatuses(t, 90*time.Second, "the pod ready again", allReady)
	for name, b := range before {
		if st[name].ContainerID != b.ContainerID || st[name].RestartCount != b.RestartCount {
			t.Errorf("container %s: %s restarted %d times before, %s restarted %d times after",
				name, b.ContainerID, b.RestartCount, st[name].ContainerID, st[name].RestartCount)
		}
	}
	id := strings.TrimPrefix(before["app"].ContainerID, "containerd://")
	checkReadinessFollowed(t, e, crictl, "lane-app", id)
	waitStatuses(t, 30*time.Second, "app and web ready again", allReady)
	if after := lastLogLine(t, e, crictl, id); after <= lineBefore {
		t.Errorf("app's log: its last line is number %d, as before the disruption (%d)", after, lineBefore)
	}
}

// checkReadinessFollowed checks that the kubelet still follows the exec
// readiness probe of pod's container app (id), which passes while
// /tmp/ready exists: removed, app turns unready; back, ready again.
func checkReadinessFollowed(t *testing.T, e *crienv.Env, crictl, pod, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := e.Crictl(ctx, crictl, "exec", "--sync", id, "rm", "/tmp/ready"); err != nil {
		t.Fatalf("exec in %s's app: %v: %s", pod, err, out)
	}
	waitPodStatuses(t, pod, 30*time.Second, pod+"'s app unready (its exec readiness probe failing)", func(st map[string]containerStatus) bool { return !st["app"].Ready })
	if out, err := e.Crictl(ctx, crictl, "exec", "--sync", id, "touch", "/tmp/ready"); err != nil {
		t.Fatalf("exec in %s's app: %v: %s", pod, err, out)
	}
	waitPodStatuses(t, pod, 30*time.Second, pod+"'s app ready again", func(st map[string]containerStatus) bool { return st["app"].Ready })
}

// lastLogLine is the number of app's last log line, as the runtime's log
// file gives it (crictl logs).
func lastLogLine(t *testing.T, e *crienv.Env, crictl, id string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := e.Crictl(ctx, crictl, "logs", "--tail", "1", id)
	if err != nil {
		t.Fatalf("crictl logs %s: %v", id, err)
	}
	var n int
	if _, err := fmt.Sscanf(string(out), "line %d", &n); err != nil {
		t.Fatalf("app's last log line %q: %v", out, err)
	}
	return n
}

// checkLogRotation checks that the kubelet rotated app's log (rotated
// files beside the current one, at most containerLogMaxFiles in all) and
// that the log still reads, its line numbers still growing.
func checkLogRotation(t *testing.T, e *crienv.Env, crictl, dir, id string) {
	t.Helper()
	first := lastLogLine(t, e, crictl, id)
	deadline := time.Now().Add(60 * time.Second)
	var files []string
	for {
		files, _ = filepath.Glob(filepath.Join(dir, "pod-logs", "default_lane-app-*", "app", "*.log*"))
		if len(files) > 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if len(files) < 2 {
		t.Fatalf("app's log was not rotated in 60 s: %v", files)
	}
	if len(files) > 3 {
		t.Errorf("app's log has %d files, more than containerLogMaxFiles (3): %v", len(files), files)
	}
	time.Sleep(2 * time.Second)
	if last := lastLogLine(t, e, crictl, id); last <= first {
		t.Errorf("app's log after rotation: last line %d, not past %d", last, first)
	}
}

// waitPodStopped waits up to 2 minutes for the static pod's containers to
// stop and its sandbox to be not ready, as the runtime reports them (the
// kubelet drops the pod from its own list at once).
func waitPodStopped(t *testing.T, e *crienv.Env, crictl string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		running, err1 := e.Crictl(ctx, crictl, "ps", "-q", "--state", "running", "--label", "io.kubernetes.pod.namespace=default")
		ready, err2 := e.Crictl(ctx, crictl, "pods", "-q", "--state", "ready", "--namespace", "default")
		if err1 == nil && err2 == nil && strings.TrimSpace(string(running)) == "" && strings.TrimSpace(string(ready)) == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the static pod still runs 2 minutes after its manifest's removal: containers %q, sandboxes %q (%v, %v)", running, ready, err1, err2)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// cpuMemory is the part of the summary API's CPU and memory stats the
// lane reads.
type cpuMemory struct {
	CPU *struct {
		UsageCoreNanoSeconds *uint64 `json:"usageCoreNanoSeconds"`
	} `json:"cpu"`
	Memory *struct {
		UsageBytes      *uint64 `json:"usageBytes"`
		WorkingSetBytes *uint64 `json:"workingSetBytes"`
	} `json:"memory"`
}

// problems lists what of s is missing or zero, naming it what.
func (s cpuMemory) problems(what string) []string {
	var out []string
	if s.CPU == nil || s.CPU.UsageCoreNanoSeconds == nil || *s.CPU.UsageCoreNanoSeconds == 0 {
		out = append(out, what+": no CPU usage")
	}
	if s.Memory == nil || s.Memory.UsageBytes == nil || *s.Memory.UsageBytes == 0 ||
		s.Memory.WorkingSetBytes == nil || *s.Memory.WorkingSetBytes == 0 {
		out = append(out, what+": no memory usage or working set")
	}
	return out
}

// checkSummary reads the kubelet's /stats/summary until it has the pod's
// and its two containers' CPU time, memory usage and working set (cAdvisor
// collects every 10 to 15 s).
func checkSummary(t *testing.T) {
	deadline := time.Now().Add(60 * time.Second)
	var problems []string
	for time.Now().Before(deadline) {
		problems = summaryProblems()
		if len(problems) == 0 {
			return
		}
		time.Sleep(2 * time.Second)
	}
	t.Errorf("the summary API after 60 s: %s", strings.Join(problems, "; "))
}

func summaryProblems() []string {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://127.0.0.1:10255/stats/summary")
	if err != nil {
		return []string{err.Error()}
	}
	defer resp.Body.Close()
	var summary struct {
		Pods []struct {
			PodRef struct {
				Name string `json:"name"`
			} `json:"podRef"`
			cpuMemory
			Containers []struct {
				Name string `json:"name"`
				cpuMemory
			} `json:"containers"`
		} `json:"pods"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&summary); err != nil {
		return []string{err.Error()}
	}
	for _, p := range summary.Pods {
		if !strings.HasPrefix(p.PodRef.Name, "lane-app") {
			continue
		}
		problems := p.cpuMemory.problems("the pod")
		seen := map[string]bool{}
		for _, c := range p.Containers {
			seen[c.Name] = true
			problems = append(problems, c.cpuMemory.problems("container "+c.Name)...)
		}
		for _, name := range []string{"app", "web"} {
			if !seen[name] {
				problems = append(problems, "container "+name+": not listed")
			}
		}
		return problems
	}
	return []string{"the pod is not listed"}
}

// oomPod is a static pod whose one container goes past its 32 MiB limit
// at once.
const oomPod = `apiVersion: v1
kind: Pod
metadata: {name: lane-oom, namespace: default}
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: registry.k8s.io/e2e-test-images/busybox:1.37.0-1
    command: [sh, -c, 'x=$(head -c 200000000 /dev/zero | tr "\\0" x); echo survived']
    resources: {limits: {memory: 32Mi}}
`

// checkOOMKilled runs oomPod and waits for the kubelet to report its
// container terminated with reason OOMKilled and exit code 137.
func checkOOMKilled(t *testing.T, manifests string) {
	path := filepath.Join(manifests, "lane-oom.yaml")
	if err := os.WriteFile(path, []byte(oomPod), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		reason, code, err := terminated("lane-oom", "hog")
		if err == nil && reason != "" {
			if reason != "OOMKilled" || code != 137 {
				t.Fatalf("the container over its limit ended %s, exit code %d, not OOMKilled, 137", reason, code)
			}
			return
		}
		last = fmt.Sprint(err)
		time.Sleep(time.Second)
	}
	t.Fatalf("the container over its memory limit not terminated after 90 s (%s)", last)
}

// terminated returns the reason and exit code of the container's
// termination ("" while it runs).
func terminated(pod, container string) (string, int, error) {
	st, err := podStatuses(pod)
	if err != nil {
		return "", 0, err
	}
	if st == nil {
		return "", 0, fmt.Errorf("pod %s not listed", pod)
	}
	if t := st[container].State.Terminated; t != nil {
		return t.Reason, t.ExitCode, nil
	}
	return "", 0, fmt.Errorf("%s: %s not terminated yet", pod, container)
}
