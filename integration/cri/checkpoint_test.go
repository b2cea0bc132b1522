package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/crienv"
	"github.com/berth-oci/berth/internal/testutil"
)

// checkpointSteps are the steps of checkCheckpointSideBySide, in order.
var checkpointSteps = []string{
	"CheckpointContainer (crictl checkpoint --export)",
	"container still running",
	"archive holds CRIU's images",
	"restore: CreateContainer from the archive, StartContainer",
	"restore: the counter goes on",
	"restored container stops and is removed",
}

// checkCheckpointSideBySide is the kubelet's forensic checkpoint
// (CheckpointContainer, which leaves the container running) and containerd's
// restore of its archive (CreateContainer with the archive as the image),
// with the runc shim and with gate, one container each: a shell counting in
// its rootfs. It fails where a step passes with the runc shim and not with
// gate; where both fail (CRIU in this guest), it says so.
func checkCheckpointSideBySide(t *testing.T, crictlBin string, e *crienv.Env, dir, gate string) {
	t.Helper()
	got := map[string]map[string]string{}
	for _, h := range []string{crienv.HandlerRunc, gate} {
		got[h] = checkpointRestore(t, crictlBin, e, dir, h)
	}
	for _, step := range checkpointSteps {
		r, b := got[crienv.HandlerRunc][step], got[gate][step]
		switch {
		case b == "ok":
			fmt.Printf("checkpoint, %s: %s ok, runc shim %s\n", step, gate, r)
		case r == "ok":
			t.Errorf("checkpoint, %s: passes with the runc shim and fails with %s: %s", step, gate, b)
		default:
			fmt.Printf("checkpoint, %s: fails with the runc shim too (%s); %s: %s\n", step, r, gate, b)
		}
	}
}

// shimOfContainer is the pid of the process that is the parent of the
// container's init (its shim), or 0.
func shimOfContainer(crictl func(args ...string) (string, error), id string) int {
	var info struct {
		Info struct{ Pid int } `json:"info"`
	}
	s, err := crictl("inspect", "-o", "json", id)
	if err != nil || json.Unmarshal([]byte(s), &info) != nil || info.Info.Pid == 0 {
		return 0
	}
	ppid, _ := testutil.ParentPid(info.Info.Pid)
	return ppid
}

// checkpointRestore runs the steps for one handler and returns each one's
// outcome: "ok" or what went wrong (a step after a failed one is skipped).
func checkpointRestore(t *testing.T, crictlBin string, e *crienv.Env, dir, handler string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range checkpointSteps {
		out[s] = "not reached"
	}
	p := startProbe(t, crictlBin, e, dir, handler, "checkpoint-"+handler,
		`["sh", "-c", "echo start >> /tmp/starts; i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done"]`)
	defer p.remove()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	crictl := func(args ...string) (string, error) {
		b, err := e.Crictl(ctx, crictlBin, args...)
		return strings.TrimSpace(string(b)), err
	}
	count := func(id string) int {
		s, err := crictl("exec", "--sync", id, "cat", "/tmp/count")
		n, cerr := strconv.Atoi(s)
		if err != nil || cerr != nil {
			return -1
		}
		return n
	}
	time.Sleep(2 * time.Second)
	archive := filepath.Join(dir, "checkpoint-"+handler+".tar")
	if _, err := crictl("checkpoint", "--export="+archive, p.id); err != nil {
		out[checkpointSteps[0]] = err.Error()
		return out
	}
	out[checkpointSteps[0]] = "ok"
	before := count(p.id)
	var st struct {
		Status struct{ State string } `json:"status"`
	}
	if s, err := crictl("inspect", "-o", "json", p.id); err != nil || json.Unmarshal([]byte(s), &st) != nil || st.Status.State != "CONTAINER_RUNNING" || before < 0 {
		out[checkpointSteps[1]] = fmt.Sprintf("state %q, counter %d, %v", st.Status.State, before, err)
	} else {
		out[checkpointSteps[1]] = "ok"
	}
	list, err := exec.Command("tar", "tf", archive).Output()
	if err != nil || !strings.Contains(string(list), "checkpoint/inventory.img") {
		out[checkpointSteps[2]] = fmt.Sprintf("no checkpoint/inventory.img in %s (%v)", archive, err)
		return out
	}
	out[checkpointSteps[2]] = "ok"
	// The restored container takes the checkpointed one's name, in its pod.
	if _, err := crictl("stop", "-t", "0", p.id); err != nil {
		out[checkpointSteps[3]] = err.Error()
		return out
	}
	if _, err := crictl("rm", p.id); err != nil {
		out[checkpointSteps[3]] = err.Error()
		return out
	}
	config := filepath.Join(dir, "checkpoint-"+handler+"-restore.json")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`{"metadata": {"name": "probe"}, "image": {"image": %q}}`, archive)), 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := crictl("create", p.pod, config, podConfig(t, dir, "checkpoint-"+handler))
	if err == nil {
		_, err = crictl("start", id)
	}
	if err != nil {
		out[checkpointSteps[3]] = err.Error()
		return out
	}
	out[checkpointSteps[3]] = "ok"
	// Restored, the shell goes on counting from where it was dumped; run
	// afresh, it would have started again (a second line in /tmp/starts).
	a := count(id)
	time.Sleep(time.Second)
	b := count(id)
	starts, _ := crictl("exec", "--sync", id, "cat", "/tmp/starts")
	if b > a && a > 0 && starts == "start" {
		out[checkpointSteps[4]] = "ok"
	} else {
		out[checkpointSteps[4]] = fmt.Sprintf("counter %d after the checkpoint; restored: %d, then %d a second later; starts %q", before, a, b, starts)
	}
	shim := shimOfContainer(crictl, id)
	start := time.Now()
	_, err = crictl("stop", "-t", "0", id)
	if err == nil {
		_, err = crictl("rm", id)
	}
	if err != nil {
		// Where its shim waits, in containerd's log (see dumpStacksOnSignal).
		if shim > 0 {
			_ = syscall.Kill(shim, syscall.SIGUSR1)
			time.Sleep(time.Second)
		}
		out[checkpointSteps[5]] = fmt.Sprintf("after %s: %v (shim pid %d sent SIGUSR1: stacks in containerd's log)", time.Since(start).Round(time.Millisecond), err, shim)
	} else {
		out[checkpointSteps[5]] = "ok"
	}
	return out
}
