package containerd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-oci/berth/cgroups"
)

// testOOMEventPerKill: four memory hogs at once under one limit, in a
// container whose init lives on. The kernel signals many OOM conditions for
// each kill; containerd must see one /tasks/oom event per kill, as the
// cgroup's oom_kill counter gives them.
func testOOMEventPerKill(t *testing.T, d *daemon) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := exec.CommandContext(ctx, d.v.ctr, "-a", d.sock, "-n", d.namespace, "events")
	var out syncBuffer
	events.Stdout = &out
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = events.Wait() }()
	time.Sleep(300 * time.Millisecond)
	const id = "oomcount"
	hog := `(x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done)`
	d.ctrOK("run", "-d", "--memory-limit", strconv.Itoa(16<<20), "--runtime", runtimeName, image, id,
		"sh", "-c", fmt.Sprintf("for i in 1 2 3 4; do %s & done; wait; exec sleep 300", hog))
	t.Cleanup(func() { d.remove(id) })
	rel := filepath.Join(d.namespace, id)
	deadline := time.Now().Add(60 * time.Second)
	for {
		kills, err := oomKillCount(rel)
		if err == nil && kills >= 4 && d.taskStatus(id) == "RUNNING" && len(d.taskProcs(id)) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hogs were not all killed within 60s: oom_kill %d (%v), status %s, processes %v",
				kills, err, d.taskStatus(id), d.taskProcs(id))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The watch looks at the counter up to a second after a notification.
	time.Sleep(2 * time.Second)
	kills, err := oomKillCount(rel)
	if err != nil {
		t.Fatal(err)
	}
	var got int
	for _, topic := range taskTopics(out.String(), id) {
		if topic == "/tasks/oom" {
			got++
		}
	}
	t.Logf("%d OOM kills, %d /tasks/oom events", kills, got)
	if uint64(got) != kills {
		t.Fatalf("%d /tasks/oom events for %d OOM kills (the cgroup's oom_kill)", got, kills)
	}
}

// taskProcs returns the pids `ctr task ps` lists for a task.
func (d *daemon) taskProcs(id string) []string {
	var pids []string
	for _, line := range strings.Split(d.ctr("task", "ps", id).Stdout, "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			pids = append(pids, f[0])
		}
	}
	return pids
}

// oomKillCount reads the oom_kill counter of the cgroup rel (relative to
// the memory controller's root), on cgroup v1 or v2.
func oomKillCount(rel string) (uint64, error) {
	path := filepath.Join("/sys/fs/cgroup", rel, "memory.events")
	if cgroups.HostMode() != cgroups.V2 {
		path = filepath.Join("/sys/fs/cgroup/memory", rel, "memory.oom_control")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s has no oom_kill", path)
}

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
