package kubelet

import (
	"os"
	"regexp"
	"strings"
)

// focus is the ginkgo focus of the run: KUBELET_FOCUS, the whole
// [NodeConformance] set for KUBELET_FOCUS=all (""), or the lane's subset.
func focus() string {
	switch f := os.Getenv("KUBELET_FOCUS"); f {
	case "":
		return subsetFocus()
	case "all":
		return ""
	default:
		return f
	}
}

// subset is the part of the node e2e suite make test runs: what the
// kubelet asks of a runtime, a test or a few per concern. Each entry is
// a part of a test's name, matched literally.
var subset = []string{
	// Probes: exec, HTTP and exec with a timeout (liveness, restarts),
	// readiness, startup. (TCP's only tests watch 4 minutes for no restart;
	// the lane's own scenarios probe by TCP.)
	`[sig-node] Probing container should be restarted with a exec "cat /tmp/health" liveness probe`,
	`[sig-node] Probing container should be restarted with a /healthz http liveness probe`,
	`[sig-node] Probing container should be restarted with an exec liveness probe with timeout`,
	`[sig-node] Probing container with readiness probe should not be ready before initial delay and never restart`,
	`[sig-node] Probing container should override timeoutGracePeriodSeconds when StartupProbe field is set`,
	// Init containers.
	`[sig-node] InitContainer [NodeConformance] should invoke init containers on a RestartAlways pod`,
	`[sig-node] InitContainer [NodeConformance] should not start app containers and fail the pod if init containers fail on a RestartNever pod`,
	// postStart and preStop exec hooks.
	`[sig-node] Container Lifecycle Hook when create a pod with lifecycle hook should execute poststart exec hook properly`,
	`[sig-node] Container Lifecycle Hook when create a pod with lifecycle hook should execute prestop exec hook properly`,
	// Restart policies, exit codes, termination messages, SIGKILL.
	`[sig-node] Container Runtime blackbox test when starting a container that exits should run with the expected status`,
	`[sig-node] Container Runtime blackbox test on terminated container should report termination message if TerminationMessagePath is set [NodeConformance]`,
	`[sig-node] Kubelet when scheduling a busybox command that always fails in a pod should have an terminated reason`,
	`[sig-node] Pod SIGKILL`,
	// The OOMKilled reason: the node e2e test checks it, then restarts the
	// kubelet through systemctl, which fails here under every handler; the
	// lane's scenarios check it instead.
	// Logs, exec and attach through the kubelet's streaming server.
	`[sig-node] ContainerLogPath [NodeConformance] Pod with a container printed log to stdout should print log to correct cri log path`,
	`[sig-node] Kubelet when scheduling a busybox command in a pod should print the output to logs`,
	`[sig-node] Pods should support remote command execution over websockets`,
	`[sig-node] Pods should support retrieving logs from the container over websockets`,
	// The summary API: its node e2e test expects the "misc" system
	// container, which needs a system cgroup (see kubeletFlags), and fails
	// here under every handler; the lane's scenarios read the pod's and its
	// containers' CPU, memory and working set instead.
	// Process namespace sharing, and pods that share none.
	`[sig-node] Security Context [NodeConformance] [LinuxOnly] Container PID namespace sharing`,
	// Cgroups per QoS class, and a pod resized in place.
	`[sig-node] Kubelet Cgroup Manager Pod containers [NodeConformance] On scheduling a Burstable Pod`,
	`[sig-node] Pod InPlace Resize Container [FeatureGate:InPlacePodVerticalScaling] [Beta] Burstable QoS pod, one container with cpu & memory requests + limits - increase memory limits only`,
	`[sig-node] Pod InPlace Resize Container [FeatureGate:InPlacePodVerticalScaling] [Beta] Burstable QoS pod, one container with cpu & memory requests + limits - decrease memory requests only`,
	// Graceful termination.
	`[sig-node] [NodeConformance] Containers Lifecycle when Running a pod with init containers and regular containers, restartPolicy=Never when a pod cannot terminate gracefully`,
	`[sig-node] MirrorPodWithGracePeriod when create a mirror pod  mirror pod termination should satisfy grace period when static pod is deleted`,
	// Volumes, security context, sysctls, /proc masking.
	`[sig-storage] EmptyDir volumes should support (non-root,0644,tmpfs)`,
	`[sig-storage] Projected combined should project all components that make up the projection API`,
	`[sig-node] Security Context When creating a pod with readOnlyRootFilesystem should run the container with readonly rootfs`,
	`[sig-node] Sysctls [LinuxOnly] [NodeConformance] should support sysctls [MinimumKubeletVersion:1.21]`,
	`[sig-node] DefaultProcMount [LinuxOnly] [NodeConformance] will mask proc mounts by default`,
}

// subsetFocus is subset as one regexp.
func subsetFocus() string {
	quoted := make([]string, len(subset))
	for i, s := range subset {
		quoted[i] = regexp.QuoteMeta(s)
	}
	return strings.Join(quoted, "|")
}

// skip is what the lane leaves out of any run: tests that restart the
// kubelet through systemd (this host has none) or change its configuration
// ([Disruptive]), and those upstream marks flaky.
const skip = `\[Disruptive\]|\[Flaky\]`
