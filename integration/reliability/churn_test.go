// Package reliability is the churn part of make test-reliability: many
// short containers through the berth CLI, and what they leave behind.
package reliability

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/internal/testutil"
	"github.com/berth-oci/berth/spec"
)

// hostCounts are the things a container run could leak.
type hostCounts struct {
	mounts, cgroupDirs, stateEntries, zombies, fds int
}

func (h hostCounts) String() string {
	return fmt.Sprintf("mounts %d, cgroup dirs %d, state root entries %d, zombie children %d, fds %d",
		h.mounts, h.cgroupDirs, h.stateEntries, h.zombies, h.fds)
}

func countHost(t *testing.T, root string) hostCounts {
	t.Helper()
	var h hostCounts
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		h.mounts = bytes.Count(data, []byte("\n"))
	}
	_ = filepath.WalkDir("/sys/fs/cgroup", func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			h.cgroupDirs++
		}
		return nil
	})
	// The compiled seccomp programs are files in the root: counted here.
	entries, _ := os.ReadDir(root)
	h.stateEntries = len(entries)
	procs, _ := os.ReadDir("/proc")
	me := strconv.Itoa(os.Getpid())
	for _, p := range procs {
		stat, err := os.ReadFile(filepath.Join("/proc", p.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at ')'.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 1 && f[0] == "Z" && f[1] == me {
			h.zombies++
		}
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	h.fds = len(fds)
	return h
}

// TestChurnCLI runs `berth run` of /bin/true BERTH_CLI_CHURN times (1,000
// in make test-reliability), 4 at a time, and requires no growth in
// mounts, cgroup directories, state root entries, zombie children or fds.
func TestChurnCLI(t *testing.T) {
	testutil.RequireRoot(t, "runs real containers")
	bin := testutil.Binary(t, "BERTH_BINARY", "../../bin/berth")
	runs := 100
	if n, err := strconv.Atoi(os.Getenv("BERTH_CLI_CHURN")); err == nil && n > 0 {
		runs = n
	}
	root := t.TempDir()
	bundle := busybox.NewTestBundle(t, spec.WithArgs("true"))
	// One run first: it leaves the profile's compiled seccomp program in
	// the state root (one file per profile, not per container), which the
	// counts then include as a state root entry that must not grow.
	if out, err := exec.Command(bin, "--root", root, "run", "--bundle", bundle, "churn-first").CombinedOutput(); err != nil {
		t.Fatalf("first run: %v: %s", err, out)
	}
	before := countHost(t, root)
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < runs; i += 4 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				out, err := exec.CommandContext(ctx, bin, "--root", root, "run", "--bundle", bundle, fmt.Sprintf("churn-%d", i)).CombinedOutput()
				cancel()
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("run %d: %v: %s", i, err, out))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	// Exited inits are reaped by the host's init a moment later.
	var after hostCounts
	for range 50 {
		after = countHost(t, root)
		if after == before {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("CLI churn: %d berth run of /bin/true, 4 at a time, in %s (%d failed)\n  before: %s\n  after:  %s\n",
		runs, elapsed.Round(time.Millisecond), len(failures), before, after)
	if len(failures) > 0 {
		t.Fatalf("%d of %d runs failed; first: %s", len(failures), runs, failures[0])
	}
	if after != before {
		t.Fatalf("the host changed: before %s; after %s", before, after)
	}
}
