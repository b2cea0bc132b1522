package containerd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-oci/berth/internal/testutil"
)

// TestShimUpgrade moves a namespace's shim daemon onto a new binary in
// place (the binary renamed over its path, then SIGHUP), under each
// containerd version, with containers and requests under way: ctr runs
// churning through the daemon, an attached run and an exec whose output
// and exit code come after the upgrade. Before that, an upgrade to a
// binary that does not start is refused and leaves the daemon serving.
// Every daemon has a shim directory of its own, so the binary the other
// tests use is never replaced.
func TestShimUpgrade(t *testing.T) {
	shimBin := os.Getenv("BERTH_SHIM")
	if shimBin == "" {
		t.Fatal("BERTH_SHIM is not set (run make test)")
	}
	// BERTH_SHIM_FROM, when set, is an earlier build the daemons start
	// from: the upgrade then moves them across releases, whose handover
	// must stay readable.
	fromBin := shimBin
	if from := os.Getenv("BERTH_SHIM_FROM"); from != "" {
		fromBin = from
	}
	for _, v := range versions(t) {
		t.Run("containerd-"+v.name, func(t *testing.T) {
			t.Parallel()
			shimDir := t.TempDir()
			installShim(t, fromBin, shimDir)
			d := startDaemonIn(t, v, shimDir, "berthupg-")
			testUpgradeInPlace(t, d, shimBin, shimDir)
			assertNoShimsLeft(t, d)
		})
	}
}

// installShim puts a copy of the shim binary at shimDir by rename, as an
// upgrade does: the running binary is never written ("text file busy").
func installShim(t *testing.T, src, shimDir string) {
	t.Helper()
	dst := filepath.Join(shimDir, "containerd-shim-berth-v2")
	tmp := dst + ".new"
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// upgradeDaemon signals the daemon serving id to upgrade and waits for its
// stats to show generation want, or an upgrade error.
func upgradeDaemon(t *testing.T, d *daemon, id string, want int64) upgradeStats {
	t.Helper()
	before := d.upgradeStats(t, id)
	if err := syscall.Kill(before.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		time.Sleep(100 * time.Millisecond)
		st, err := d.tryUpgradeStats(id)
		if err == nil && (st.Generation == want || st.UpgradeError != "" && st.UpgradeError != before.UpgradeError) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("no upgrade after 30s: %+v, %v", st, err)
		}
	}
}

type upgradeStats struct {
	daemonStats
	Generation   int64  `json:"generation"`
	UpgradeError string `json:"upgrade_error"`
}

func (d *daemon) tryUpgradeStats(id string) (upgradeStats, error) {
	addr, err := os.ReadFile(filepath.Join(d.bundle(id), "address"))
	if err != nil {
		return upgradeStats{}, err
	}
	var st upgradeStats
	err = statsInto(strings.TrimSpace(string(addr)), &st)
	return st, err
}

func (d *daemon) upgradeStats(t *testing.T, id string) upgradeStats {
	t.Helper()
	st, err := d.tryUpgradeStats(id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func testUpgradeInPlace(t *testing.T, d *daemon, shimBin, shimDir string) {
	evCtx, evCancel := context.WithCancel(context.Background())
	var events syncBuffer
	evCmd := exec.CommandContext(evCtx, d.v.ctr, "-a", d.sock, "-n", d.namespace, "events")
	evCmd.Stdout = &events
	if err := evCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { evCancel(); _ = evCmd.Wait() }()
	d.runDetached("upg-anchor", "sleep", "600")
	// Its OOM watch is the new image's after the upgrade (64 MiB: the race
	// detector's init needs more than 16 before the limit is set).
	d.ctrOK("run", "-d", "--memory-limit", strconv.Itoa(64<<20), "--runtime", runtimeName, image, "upg-oom", "sleep", "600")
	t.Cleanup(func() { d.remove("upg-oom") })
	anchorPid := d.taskPid("upg-anchor")
	before := d.upgradeStats(t, "upg-anchor")
	if before.Generation != 0 {
		t.Fatalf("generation %d before any upgrade", before.Generation)
	}

	// A binary that does not start: refused, the daemon serves on.
	path := filepath.Join(shimDir, "containerd-shim-berth-v2")
	broken := path + ".broken"
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho broken >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(broken, path); err != nil {
		t.Fatal(err)
	}
	st := upgradeDaemon(t, d, "upg-anchor", 1)
	if st.Generation != 0 || !strings.Contains(st.UpgradeError, "does not start") || st.Pid != before.Pid {
		t.Fatalf("upgrade to a broken binary: %+v", st)
	}
	if got := strings.TrimSpace(d.ctrOK("task", "exec", "--exec-id", "after-refusal", "upg-anchor", "echo", "served")); got != "served" {
		t.Fatalf("exec after a refused upgrade: %q", got)
	}
	installShim(t, shimBin, shimDir)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Under way across the upgrade: an attached run (its Wait and its
	// output), an exec, and churn.
	type outcome struct {
		what string
		r    testutil.Result
		err  error
	}
	results := make(chan outcome, 64)
	var wg sync.WaitGroup
	background := func(what string, args ...string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := testutil.RunCommand(exec.CommandContext(ctx, d.v.ctr, d.ctrArgs(args...)...))
			results <- outcome{what, r, err}
		}()
	}
	background("attached run", "run", "--rm", "--runtime", runtimeName, image, "upg-attached", "sh", "-c", "echo before; sleep 3; echo after; exit 7")
	background("exec", "task", "exec", "--exec-id", "across", "upg-anchor", "sh", "-c", "sleep 3; echo done; exit 3")
	stopChurn := make(chan struct{})
	churned := make(chan int, 2)
	for w := range 2 {
		go func() {
			n := 0
			for i := 0; ; i++ {
				select {
				case <-stopChurn:
					churned <- n
					return
				default:
				}
				id := fmt.Sprintf("upg-churn-%d-%d", w, i)
				r, err := testutil.RunCommand(exec.CommandContext(ctx, d.v.ctr, d.ctrArgs("run", "--rm", "--runtime", runtimeName, image, id, "echo", id)...))
				if err != nil || r.Code != 0 || strings.TrimSpace(r.Stdout) != id {
					results <- outcome{"churn " + id, r, err}
				}
				n++
			}
		}()
	}
	tty := startOnPty(t, d, "run", "--rm", "-t", "--runtime", runtimeName, image, "upg-tty", "sh", "-c", "echo ready; read x; echo got-$x; exit 6")
	time.Sleep(time.Second) // the attached runs and the exec are running
	exeBefore, _ := os.Stat(fmt.Sprintf("/proc/%d/exe", before.Pid))
	start := time.Now()
	st = upgradeDaemon(t, d, "upg-anchor", 1)
	took := time.Since(start)
	if st.Generation != 1 || st.UpgradeError != "" {
		t.Fatalf("upgrade: %+v", st)
	}
	if st.Pid != before.Pid {
		t.Fatalf("the daemon's pid changed: %d -> %d", before.Pid, st.Pid)
	}
	exeAfter, err := os.Stat(fmt.Sprintf("/proc/%d/exe", st.Pid))
	installed, err2 := os.Stat(path)
	if err != nil || err2 != nil || !os.SameFile(exeAfter, installed) || exeBefore != nil && os.SameFile(exeBefore, exeAfter) {
		t.Fatalf("the daemon does not run the new binary (%v, %v)", err, err2)
	}
	time.Sleep(time.Second) // churn on through the new image
	close(stopChurn)
	runs := <-churned + <-churned
	wg.Wait()
	close(results)
	for o := range results {
		switch o.what {
		case "attached run":
			if o.err != nil || o.r.Code != 7 || o.r.Stdout != "before\nafter\n" {
				t.Errorf("attached run across the upgrade: exit %d, stdout %q, stderr %q, %v", o.r.Code, o.r.Stdout, o.r.Stderr, o.err)
			}
		case "exec":
			if o.err != nil || o.r.Code != 3 || o.r.Stdout != "done\n" {
				t.Errorf("exec across the upgrade: exit %d, stdout %q, stderr %q, %v", o.r.Code, o.r.Stdout, o.r.Stderr, o.err)
			}
		default:
			t.Errorf("%s: exit %d, stdout %q, stderr %q, %v", o.what, o.r.Code, o.r.Stdout, o.r.Stderr, o.err)
		}
	}
	if after := d.upgradeStats(t, "upg-anchor"); after.RefusedTransitions != 0 {
		t.Errorf("the daemon refused %d process transitions it had decided", after.RefusedTransitions)
	}
	t.Logf("upgrade in place: %s from SIGHUP to the new image serving; %d ctr runs churned through it", took.Round(time.Millisecond), runs)

	// The terminal's copies went across: input typed now reaches the
	// shell, and its output and exit code come back.
	_, _ = tty.master.Write([]byte("hello\n"))
	if out, code := tty.wait(t); code != 6 || !strings.Contains(out, "ready") || !strings.Contains(out, "got-hello") {
		t.Errorf("a terminal run across the upgrade: exit %d, output %q", code, out)
	}

	// After: the same container, exec, stdin, OOM, kill and exit code.
	if got := d.taskPid("upg-anchor"); got != anchorPid {
		t.Fatalf("the container's pid changed: %d -> %d", anchorPid, got)
	}
	if got := d.taskStatus("upg-anchor"); got != "RUNNING" {
		t.Fatalf("the container is %s after the upgrade", got)
	}
	if got := d.ctrIn([]byte("piped\n"), "task", "exec", "--exec-id", "stdin-after", "upg-anchor", "cat").Stdout; got != "piped\n" {
		t.Errorf("exec with stdin after the upgrade: %q", got)
	}
	hog := d.ctr("task", "exec", "--exec-id", "hog", "upg-oom", "sh", "-c", "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done")
	if hog.Code != 137 {
		t.Errorf("a memory hog exec'd after the upgrade: exit %d, want 137 (killed): %s", hog.Code, hog.Stderr)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(taskTopics(events.String(), "upg-oom"), "/tasks/oom") {
		if time.Now().After(deadline) {
			t.Errorf("no TaskOOM for a kill after the upgrade; events of upg-oom: %v", taskTopics(events.String(), "upg-oom"))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := d.ctr("run", "--rm", "--runtime", runtimeName, image, "upg-after", "sh", "-c", "exit 5")
	if r.Code != 5 {
		t.Errorf("run after the upgrade: exit %d, want 5: %s", r.Code, r.Stderr)
	}
	// containerd noticed nothing: no connection of the anchor's went
	// before it was deleted, and no error was logged.
	logBefore, err := os.ReadFile(filepath.Join(d.dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(logBefore), "\n") {
		refusal := strings.Contains(line, "msg=upgrade") // the shim's own log of the refused upgrade
		if strings.Contains(line, "level=error") && !refusal || strings.Contains(line, "shim disconnected") && strings.Contains(line, "id=upg-anchor") {
			t.Errorf("containerd noticed the upgrade: %s", line)
		}
	}
	d.ctrOK("task", "kill", "-s", "KILL", "upg-anchor")
	d.waitStatus("upg-anchor", "STOPPED")
	d.ctrOK("task", "rm", "upg-anchor")
	d.ctrOK("containers", "rm", "upg-anchor")
}
