package kubelet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/crienv"
)

// tcpPod is a static pod whose container serves port 8081 (busybox's
// httpd, in the background) and is probed there by TCP for liveness. The
// container's shell lives on when the server is killed: only the probe
// can tell.
const tcpPod = `apiVersion: v1
kind: Pod
metadata: {name: lane-tcp, namespace: default}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: listener
    image: registry.k8s.io/e2e-test-images/busybox:1.37.0-1
    command: [sh, -c, 'httpd -p 8081 -h /tmp; trap "exit 0" TERM; while true; do sleep 1; done']
    livenessProbe: {tcpSocket: {port: 8081}, periodSeconds: 1, failureThreshold: 3}
`

// checkTCPLiveness runs tcpPod, kills its server, and waits for the
// kubelet to restart the container on its failing TCP liveness probe: a
// new container, restart count 1, running and live again.
func checkTCPLiveness(t *testing.T, e *crienv.Env, crictl, manifests string) {
	path := filepath.Join(manifests, "lane-tcp.yaml")
	if err := os.WriteFile(path, []byte(tcpPod), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func() {
		os.Remove(path)
		waitPodStatuses(t, "lane-tcp", time.Minute, "lane-tcp gone with its manifest", func(st map[string]containerStatus) bool { return st == nil })
	}()
	before := waitPodStatuses(t, "lane-tcp", 2*time.Minute, "lane-tcp ready", func(st map[string]containerStatus) bool { return st["listener"].Ready })["listener"]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := strings.TrimPrefix(before.ContainerID, "containerd://")
	if out, err := e.Crictl(ctx, crictl, "exec", "--sync", id, "sh", "-c", "kill $(pgrep httpd)"); err != nil {
		t.Fatalf("kill the listener's server: %v: %s", err, out)
	}
	after := waitPodStatuses(t, "lane-tcp", time.Minute, "the listener restarted and ready again", func(st map[string]containerStatus) bool {
		return st["listener"].RestartCount > before.RestartCount && st["listener"].Ready
	})["listener"]
	if after.RestartCount != before.RestartCount+1 || after.ContainerID == before.ContainerID {
		t.Errorf("after its TCP liveness probe failed: container %s restarted %d times, then %s %d times; want a new container, restarted once",
			before.ContainerID, before.RestartCount, after.ContainerID, after.RestartCount)
	}
}
