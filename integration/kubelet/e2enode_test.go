package kubelet

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/ginkgoreport"
)

// e2eNode is one run of Kubernetes' node e2e suite (e2e_node.test): its
// framework starts etcd, the API server and a namespace controller in
// process, and the kubelet built beside it.
type e2eNode struct {
	bins     string // kubelet, e2e_node.test
	dir      string // the handler's lane directory: cwd, logs, the kubelet's root
	endpoint string // the CRI endpoint
}

// kubeletConfig is the base KubeletConfiguration the suite starts the
// kubelet from (it adds its own settings, e.g. the static pod path and
// the read-only port): the cgroupfs driver on this cgroup v1 host (1.34
// only warns about v1; 1.35 and later refuse it unless failCgroupV1 is
// false), the suite's defaults (test/e2e_node/jenkins), pod logs under
// the lane's directory, and eviction thresholds near zero, so that a
// small machine is not under pressure at once.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: /
failSwapOn: false
podCIDR: "10.100.0.0/24"
volumeStatsAggPeriod: 10s
fileCheckFrequency: 10s
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionPressureTransitionPeriod: 30s
evictionHard:
  memory.available: 10Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
`

// kubeletFlags override the suite's own: the kubelet's root in the lane's
// directory, and the lane's cgroup (netns.sh) as the runtime's and the
// kubelet's, which it already runs in (containerd and the kubelet are
// its descendants; the kubelet cannot move itself here: it reads
// /proc/1/ns/pid first, which this host denies). The suite names /kubelet,
// /docker-daemon and /system when it starts the kubelet without systemd,
// and the kubelet then moves every process of the root cgroup into
// /system: the lane names no system cgroup (so the summary API has no
// "misc" system container).
func kubeletFlags(dir string) string {
	return strings.Join(append([]string{"--root-dir=" + filepath.Join(dir, "kubelet-root")}, cgroupFlags()...), " ")
}

// cgroupFlags are kubeletFlags' cgroups, which the standalone kubelet of
// the scenarios takes too: the lane's cgroup (netns.sh's), none where
// netns.sh made none (the systemd VM lane, whose guest is the lane's own).
func cgroupFlags() []string {
	lane := os.Getenv("BERTH_KUBELET_LANE_CGROUP")
	if lane == "" {
		return nil
	}
	return []string{"--kubelet-cgroups=" + lane, "--runtime-cgroups=" + lane, "--system-cgroups="}
}

// procs is the number of ginkgo workers: KUBELET_PROCS, 6 by default (the
// tests mostly wait on pods: on 2 CPUs the subset took 417 s on 4 workers,
// with two tests waiting out 300 s, and 118 s on 6).
func procs() int {
	if n, err := strconv.Atoi(os.Getenv("KUBELET_PROCS")); err == nil && n > 0 {
		return n
	}
	return 6
}

// suiteTimeout bounds one handler's run of the suite.
func suiteTimeout() time.Duration {
	if focus() == "" {
		return 150 * time.Minute
	}
	return 12 * time.Minute
}

// runE2ENode runs the suite and returns its results.
func runE2ENode(t *testing.T, r e2eNode) ginkgoreport.Results {
	t.Helper()
	base := filepath.Join(r.dir, "kubelet-base.yaml")
	if err := os.WriteFile(base, []byte(kubeletConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	reportPath := filepath.Join(r.dir, "e2e-node.json")
	logPath := filepath.Join(r.dir, "e2e-node.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	timeout := suiteTimeout()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	ginkgoFlags := []string{
		"--no-color", "-v", "--json-report=" + reportPath,
		"--timeout=" + timeout.String(), "--grace-period=30s", "--skip=" + skip,
	}
	if f := focus(); f != "" {
		ginkgoFlags = append(ginkgoFlags, "--focus="+f)
	} else {
		ginkgoFlags = append(ginkgoFlags, `--focus=\[NodeConformance\]`)
	}
	suiteFlags := []string{
		"--container-runtime-endpoint", r.endpoint, "--image-service-endpoint", r.endpoint,
		"--prepull-images=false",
		"--k8s-bin-dir", r.bins,
		"--kubelet-config-file", base,
		"--kubelet-flags", kubeletFlags(r.dir),
		"--report-dir", filepath.Join(r.dir, "report"),
		"--node-name", "berth-kubelet-lane",
	}
	// The ginkgo CLI of the suite's own ginkgo version runs it on procs
	// workers: the first starts etcd, the API server and the kubelet, the
	// others share them; [Serial] tests run last, alone.
	args := append([]string{"--procs=" + strconv.Itoa(procs())}, ginkgoFlags...)
	// ginkgo runs a suite binary in the binary's directory, where the
	// suite writes its kubeconfig, static pods and drop-in directory: a
	// link to it in the handler's directory keeps those there.
	suite := filepath.Join(r.dir, "e2e_node.test")
	if err := os.Symlink(filepath.Join(r.bins, "e2e_node.test"), suite); err != nil {
		t.Fatal(err)
	}
	args = append(append(args, suite, "--"), suiteFlags...)
	cmd := exec.CommandContext(ctx, filepath.Join(r.bins, "ginkgo"), args...)
	cmd.Dir = r.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.WaitDelay = 30 * time.Second
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("node e2e: %s (%v); log %s", time.Since(start).Round(time.Second), runErr, logPath)
	res, err := ginkgoreport.ReadRun(reportPath)
	if err != nil {
		t.Fatalf("node e2e wrote no report (%v); the tail of its log:\n%s", err, tail(logPath, 40))
	}
	return res
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
