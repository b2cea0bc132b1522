package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/crienv"
)

const scenarioResize = "[lane] a pod resized in place (CPU and memory up), then probed by exec: the same container, its cgroup's new limit, its probes still followed"

// resizePod is the API pod the resize scenario creates on the lane's node:
// one Burstable container probed by exec (liveness /tmp/healthy,
// readiness /tmp/ready), resized without a restart.
const resizePod = `{
  "apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "lane-resize", "namespace": "default"},
  "spec": {
    "nodeName": %q,
    "terminationGracePeriodSeconds": 2,
    "containers": [{
      "name": "app",
      "image": "registry.k8s.io/e2e-test-images/busybox:1.37.0-1",
      "command": ["sh", "-c", "touch /tmp/healthy /tmp/ready; trap 'exit 0' TERM; while true; do sleep 1; done"],
      "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}},
      "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}, {"resourceName": "memory", "restartPolicy": "NotRequired"}],
      "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 1, "failureThreshold": 3},
      "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1}
    }]
  }
}`

// resizePatch raises the container's requests and limits.
const resizePatch = `{"spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": "150m", "memory": "48Mi"}, "limits": {"cpu": "300m", "memory": "96Mi"}}}]}}`

// resizedMemoryLimit is resizePatch's memory limit in bytes.
const resizedMemoryLimit = 96 << 20

// apiPod is the part of an API pod's status the resize scenario reads.
type apiPod struct {
	Status struct {
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
		ContainerStatuses []struct {
			ContainerID  string `json:"containerID"`
			Ready        bool   `json:"ready"`
			RestartCount int    `json:"restartCount"`
			Resources    struct {
				Limits map[string]string `json:"limits"`
			} `json:"resources"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

// checkResize creates resizePod through the API server, waits for it to
// be ready, resizes it in place, and checks what a user of in-place
// resize counts on: the kubelet reports the new limits, the container is
// the same and not restarted, its cgroup has the new memory limit, and
// its exec probes still decide its readiness. The pod is deleted after.
func checkResize(t *testing.T, api *apiServer, e *crienv.Env, crictl, node string) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const path = "/api/v1/namespaces/default/pods"
	if out, err := api.request(ctx, http.MethodPost, path, "application/json", []byte(fmt.Sprintf(resizePod, node))); err != nil {
		t.Fatalf("create the pod: %v: %s", err, out)
	}
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer dcancel()
		if out, err := api.request(dctx, http.MethodDelete, path+"/lane-resize", "", nil); err != nil {
			t.Errorf("delete the pod: %v: %s", err, out)
		}
		waitPodStatuses(t, "lane-resize", time.Minute, "the resized pod gone from the kubelet", func(st map[string]containerStatus) bool { return st == nil })
	}()
	before := waitPodStatuses(t, "lane-resize", 2*time.Minute, "the pod to resize ready", func(st map[string]containerStatus) bool { return st["app"].Ready })["app"]
	if out, err := api.request(ctx, http.MethodPatch, path+"/lane-resize/resize", "application/strategic-merge-patch+json", []byte(resizePatch)); err != nil {
		t.Fatalf("resize the pod: %v: %s", err, out)
	}
	var pod apiPod
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := api.request(ctx, http.MethodGet, path+"/lane-resize", "", nil)
		if err == nil {
			pod = apiPod{}
			err = json.Unmarshal(out, &pod)
		}
		if err == nil && resized(pod) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pod not resized after a minute: %+v (%v)", pod.Status, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	after := pod.Status.ContainerStatuses[0]
	if after.ContainerID != before.ContainerID || after.RestartCount != before.RestartCount {
		t.Errorf("resized: container %s restarted %d times before, %s restarted %d times after",
			before.ContainerID, before.RestartCount, after.ContainerID, after.RestartCount)
	}
	id := strings.TrimPrefix(after.ContainerID, "containerd://")
	if limit, err := memoryLimit(ctx, e, crictl, id); err != nil || limit != resizedMemoryLimit {
		t.Errorf("the resized container's cgroup memory limit: %d (%v), not %d", limit, err, resizedMemoryLimit)
	}
	checkReadinessFollowed(t, e, crictl, "lane-resize", id)
}

// resized says the kubelet reports the resized limits and no resize
// left pending or in progress.
func resized(p apiPod) bool {
	if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].Resources.Limits["memory"] != "96Mi" {
		return false
	}
	for _, c := range p.Status.Conditions {
		if (c.Type == "PodResizePending" || c.Type == "PodResizeInProgress") && c.Status == "True" {
			return false
		}
	}
	return true
}

// memoryLimit reads the container's memory limit from inside it: its
// cgroup's memory.max (v2) or memory.limit_in_bytes (v1).
func memoryLimit(ctx context.Context, e *crienv.Env, crictl, id string) (int64, error) {
	out, err := e.Crictl(ctx, crictl, "exec", "--sync", id, "sh", "-c",
		"cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
}
