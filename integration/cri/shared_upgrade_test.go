package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/crienv"
	"github.com/berth-oci/berth/internal/testutil"
)

// sharedPod is a pod of the shared-pods handler as checkSharedDaemonUpgrade
// runs it: its id, its pause process, and its containers.
type sharedPod struct {
	id           string
	pause        int
	sleeper      string // sleep 300
	exitsSeven   string // sleeps, then exits 7
	exitsSevenAt time.Time
}

// checkSharedDaemonUpgrade: the one daemon of the shared-pods handler
// (BERTH_SHIM_POD_DAEMON=shared), serving two pods with containers, is
// upgraded in place (SIGHUP): both pods and their pause processes go
// across, still its children; exec reaches both pods' containers; a
// container that exits after the upgrade reports its code (7) to the CRI;
// and the pods are then stopped and removed through the new image, which
// retires once it serves nothing.
func checkSharedDaemonUpgrade(t *testing.T, crictlBin string, e *crienv.Env, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	crictl := func(args ...string) string {
		t.Helper()
		out, err := e.Crictl(ctx, crictlBin, args...)
		if err != nil {
			t.Fatalf("shared-pods upgrade: crictl %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	crictl("pull", probeImage)
	var pods []*sharedPod
	defer func() {
		for _, p := range pods {
			_, _ = e.Crictl(context.Background(), crictlBin, "stopp", p.id)
			_, _ = e.Crictl(context.Background(), crictlBin, "rmp", p.id)
		}
	}()
	container := func(pod, podCfg, name string, command ...string) string {
		t.Helper()
		cmd, _ := json.Marshal(command)
		cfg := filepath.Join(dir, name+"-ctr.json")
		config := fmt.Sprintf(`{"metadata": {"name": %q}, "image": {"image": %q}, "command": %s,
			"annotations": {"io.kubernetes.container.hash": "0"}}`, name, probeImage, cmd)
		if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		id := crictl("create", pod, cfg, podCfg)
		crictl("start", id)
		return id
	}
	for i := range 2 {
		name := fmt.Sprintf("shared-upgrade-%d", i)
		podCfg := podConfig(t, dir, name)
		p := &sharedPod{id: crictl("runp", "--runtime", crienv.HandlerBerthSharedPods, podCfg)}
		pods = append(pods, p)
		p.sleeper = container(p.id, podCfg, name+"-sleeper", "sleep", "300")
		// Exits well after the upgrade, which takes a second or two and
		// starts once the second pod runs.
		p.exitsSeven = container(p.id, podCfg, name+"-exits", "sh", "-c", "sleep 15; exit 7")
		p.exitsSevenAt = time.Now().Add(15 * time.Second)
		var st struct{ Info struct{ Pid int } }
		out := crictl("inspectp", "-o", "json", p.id)
		if err := json.Unmarshal([]byte(out[strings.IndexByte(out, '{'):]), &st); err != nil || st.Info.Pid == 0 {
			t.Fatalf("shared-pods upgrade: inspectp %s: no pid (%v)", p.id, err)
		}
		p.pause = st.Info.Pid
	}
	daemon := parentOf(t, pods[0].pause)
	if other := parentOf(t, pods[1].pause); other != daemon {
		t.Fatalf("shared-pods upgrade: the two pods have daemons %d and %d, not one", daemon, other)
	}
	testutil.UpgradeShimInPlace(t, daemon, "shared-pods upgrade: the daemon")
	for _, p := range pods {
		if time.Now().After(p.exitsSevenAt) {
			t.Fatalf("shared-pods upgrade: the upgrade ended after the container meant to exit after it had exited")
		}
		if syscall.Kill(p.pause, 0) != nil || parentOf(t, p.pause) != daemon {
			t.Errorf("shared-pods upgrade: pod %s's pause %d did not go across", p.id, p.pause)
		}
		if out := crictl("exec", "--sync", p.sleeper, "echo", "across"); out != "across" {
			t.Errorf("shared-pods upgrade: exec in pod %s after the upgrade: %q", p.id, out)
		}
	}
	for _, p := range pods {
		for {
			var cs struct {
				Status struct {
					State    string
					ExitCode int
				}
			}
			out := crictl("inspect", "-o", "json", p.exitsSeven)
			if err := json.Unmarshal([]byte(out[strings.IndexByte(out, '{'):]), &cs); err != nil {
				t.Fatalf("shared-pods upgrade: inspect %s: %v", p.exitsSeven, err)
			}
			if cs.Status.State == "CONTAINER_EXITED" {
				if cs.Status.ExitCode != 7 {
					t.Errorf("shared-pods upgrade: a container that exited after the upgrade reports %d, want 7", cs.Status.ExitCode)
				}
				break
			}
			if time.Now().After(p.exitsSevenAt.Add(30 * time.Second)) {
				t.Fatalf("shared-pods upgrade: container %s still %s", p.exitsSeven, cs.Status.State)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for _, p := range pods {
		crictl("stopp", p.id)
		crictl("rmp", p.id)
	}
	pods = nil
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(daemon, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("shared-pods upgrade: the upgraded daemon %d still runs with its pods removed", daemon)
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("handler %s: the shared daemon upgraded in place with 2 pods and 4 containers; exec, a later exit (7) and the pods' removal went through the new image\n",
		crienv.HandlerBerthSharedPods)
}
