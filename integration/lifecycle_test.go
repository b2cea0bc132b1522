package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/spec"
)

// TestLifecycle walks a container through created, running, stopped and
// deleted with the CLI, checking state, list and the pid file on the way.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	bundle := newBundle(t, spec.WithArgs("sleep", "100"))
	id := uniqueID(t)
	pidFile := filepath.Join(t.TempDir(), "init.pid")

	c.ok("create", "--bundle", bundle, "--pid-file", pidFile, id)
	st := c.state(id)
	if st.Status != berth.Created || st.Pid <= 0 || st.Bundle != bundle || st.Rootfs != filepath.Join(bundle, "rootfs") || st.ID != id {
		t.Fatalf("after create: %+v", st)
	}
	if data, err := os.ReadFile(pidFile); err != nil || strings.TrimSpace(string(data)) != strconv.Itoa(st.Pid) {
		t.Fatalf("pid file holds %q (%v), want %d", data, err, st.Pid)
	}

	c.ok("start", id)
	c.waitStatus(id, berth.Running)
	if r := c.run(nil, "start", id); r.Code == 0 {
		t.Fatalf("second start succeeded")
	}

	var listed []berth.State
	if err := json.Unmarshal([]byte(c.ok("list", "--format", "json")), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].ID != id || listed[0].Status != berth.Running || listed[0].Owner != "root" {
		t.Fatalf("list: %+v", listed)
	}
	if q := strings.TrimSpace(c.ok("list", "-q")); q != id {
		t.Fatalf("list -q: %q", q)
	}
	if table := c.ok("list"); !strings.HasPrefix(table, "ID") || !strings.Contains(table, id) {
		t.Fatalf("list table: %q", table)
	}

	c.ok("kill", id, "SIGKILL")
	c.waitStatus(id, berth.Stopped)
	if st := c.state(id); st.Pid != 0 {
		t.Fatalf("stopped container reports pid %d", st.Pid)
	}
	c.ok("delete", id)
	assertGone(t, c.root, id, bundle, st.Pid)
	if r := c.run(nil, "state", id); r.Code == 0 || !strings.Contains(r.Stderr, "does not exist") {
		t.Fatalf("state after delete: %+v", r)
	}
}

// TestKillSignalForms checks that kill takes a name with or without SIG,
// any case, or a number; SIGTERM by default.
func TestKillSignalForms(t *testing.T) {
	t.Parallel()
	for _, sig := range []string{"", "TERM", "SIGTERM", "term", "15", "KILL", "9", "SIGKILL"} {
		t.Run("sig="+sig, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			// A handler makes TERM reach the pid namespace's init.
			bundle := newBundle(t, spec.WithArgs("sh", "-c", `trap "exit 0" TERM; while true; do sleep 0.05; done`))
			id := uniqueID(t)
			c.ok("run", "--detach", "--bundle", bundle, id)
			waitSignalHandled(t, c.state(id).Pid, syscall.SIGTERM)
			args := []string{"kill", id}
			if sig != "" {
				args = append(args, sig)
			}
			c.ok(args...)
			c.waitStatus(id, berth.Stopped)
			c.ok("delete", id)
			assertGone(t, c.root, id, bundle, 0)
		})
	}
}

// TestDeleteForce deletes created and running containers with --force.
func TestDeleteForce(t *testing.T) {
	t.Parallel()
	for _, start := range []bool{false, true} {
		name := "created"
		if start {
			name = "running"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			bundle := newBundle(t, spec.WithArgs("sleep", "100"))
			id := uniqueID(t)
			c.ok("create", "--bundle", bundle, id)
			if start {
				c.ok("start", id)
			}
			pid := c.state(id).Pid
			c.ok("delete", "--force", id)
			assertGone(t, c.root, id, bundle, pid)
		})
	}
}

// TestDeleteCreatedWithoutForce: a created container can be deleted
// without --force, as with runc.
func TestDeleteCreatedWithoutForce(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	bundle := newBundle(t, spec.WithArgs("sleep", "100"))
	id := uniqueID(t)
	c.ok("create", "--bundle", bundle, id)
	pid := c.state(id).Pid
	c.ok("delete", id)
	assertGone(t, c.root, id, bundle, pid)
}

// TestRunKeep: run --keep leaves a stopped container to inspect and delete.
func TestRunKeep(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	bundle := newBundle(t, spec.WithArgs("true"))
	id := uniqueID(t)
	c.ok("run", "--keep", "--bundle", bundle, id)
	if st := c.state(id); st.Status != berth.Stopped {
		t.Fatalf("after run --keep: %s", st.Status)
	}
	c.ok("delete", id)
	assertGone(t, c.root, id, bundle, 0)
}

// TestSpecCommand: `berth spec` writes runc's default spec, with berth's
// hostname, and refuses to overwrite.
func TestSpecCommand(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	for _, rootless := range []bool{false, true} {
		dir := t.TempDir()
		args := []string{"spec", "--bundle", dir}
		if rootless {
			args = append(args, "--rootless")
		}
		c.ok(args...)
		data, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := spec.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if s.Hostname != spec.DefaultHostname || !s.Process.Terminal || s.Root.Path != "rootfs" {
			t.Fatalf("spec: hostname %q terminal %v root %q", s.Hostname, s.Process.Terminal, s.Root.Path)
		}
		hasUserNS := false
		for _, ns := range s.Linux.Namespaces {
			hasUserNS = hasUserNS || ns.Type == "user"
		}
		if hasUserNS != rootless {
			t.Fatalf("rootless=%v but user namespace=%v", rootless, hasUserNS)
		}
		if r := c.run(nil, args...); r.Code == 0 || !strings.Contains(r.Stderr, "exists") {
			t.Fatalf("second spec: %+v", r)
		}
	}
}
