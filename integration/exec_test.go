package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/spec"
)

// TestExecFlags checks runc's exec flags against a running container.
func TestExecFlags(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	bundle := newBundle(t, spec.WithArgs("sleep", "100"))
	id := uniqueID(t)
	c.ok("run", "-d", "--bundle", bundle, id)
	procFile := filepath.Join(t.TempDir(), "process.json")
	proc, _ := json.Marshal(specs.Process{Args: []string{"sh", "-c", "echo from-process-file $X"}, Env: []string{"PATH=/bin", "X=1"}, Cwd: "/tmp"})
	if err := os.WriteFile(procFile, proc, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
		code int
	}{
		{"exit code", []string{"sh", "-c", "exit 6"}, "", 6},
		{"cwd", []string{"--cwd", "/tmp", "pwd"}, "/tmp", 0},
		{"env", []string{"-e", "A=1", "-e", "B=2", "sh", "-c", "echo $A$B"}, "12", 0},
		{"user", []string{"--user", "1000:1001", "sh", "-c", "echo $(id -u):$(id -g)"}, "1000:1001", 0},
		{"additional gids", []string{"-u", "1000", "-g", "7", "-g", "8", "id", "-G"}, "0 7 8", 0},
		{"cap", []string{"--cap", "CAP_SYS_ADMIN", "sh", "-c", "grep CapEff /proc/self/status"}, "CapEff:\t0000000020200420", 0},
		{"no-new-privs", []string{"--no-new-privs", "sh", "-c", "grep NoNewPrivs /proc/self/status"}, "NoNewPrivs:\t1", 0},
		{"process file", []string{"--process", procFile}, "from-process-file 1", 0},
	}
	for _, tc := range tests {
		args := append([]string{"exec"}, tc.args...)
		if tc.name != "process file" {
			// Flags go before the id; the command after it.
			args = append([]string{"exec"}, splitFlags(tc.args, id)...)
		} else {
			args = append(args, id)
		}
		r := c.run(nil, args...)
		if r.Code != tc.code || strings.TrimSpace(r.Stdout) != tc.want {
			t.Errorf("%s: code %d stdout %q stderr %q, want %d %q", tc.name, r.Code, r.Stdout, r.Stderr, tc.code, tc.want)
		}
	}
	// Paused: refused unless --ignore-paused, which waits (as runc does)
	// until the container is resumed.
	c.ok("pause", id)
	assertErrorLine(t, c.run(nil, "exec", id, "true"), 255, "exec failed: cannot exec in a paused container (use --ignore-paused to override)")
	go func() {
		time.Sleep(time.Second)
		c.run(nil, "resume", id)
	}()
	if out := strings.TrimSpace(c.ok("exec", "--ignore-paused", id, "echo", "ok")); out != "ok" {
		t.Fatalf("exec --ignore-paused printed %q", out)
	}
	assertErrorLine(t, c.run(nil, "exec", id), 255, "exec args cannot be empty")
	c.ok("kill", id, "KILL")
	c.waitStatus(id, berth.Stopped)
	assertErrorLine(t, c.run(nil, "exec", id, "true"), 255, "cannot exec in a stopped container")
}

// splitFlags puts the exec flags of args before id and the command after.
func splitFlags(args []string, id string) []string {
	var flags []string
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		flags = append(flags, args[i])
		if !strings.HasPrefix(args[i], "--no-new-privs") {
			flags = append(flags, args[i+1])
			i++
		}
		i++
	}
	return append(append(flags, id), args[i:]...)
}

// TestCheckpointRestore checkpoints and restores with CRIU where CRIU works
// on the kernel; where it does not (Debian's CRIU 3.17 on newer kernels),
// the error must say what CRIU reported, and nothing may be left behind.
func TestCheckpointRestore(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	bundle := newBundle(t, spec.WithArgs("sleep", "100"))
	id := uniqueID(t)
	c.ok("run", "-d", "--bundle", bundle, id)
	images := filepath.Join(t.TempDir(), "images")
	r := c.run(nil, "checkpoint", "--image-path", images, id)
	if r.Code != 0 {
		line := lastLine(r.Stderr)
		if !strings.HasPrefix(line, "berth: checkpoint "+id+": ") || !strings.Contains(line, "criu") || !strings.Contains(line, "dump.log") {
			t.Fatalf("checkpoint failed without naming CRIU's cause: %q", line)
		}
		if st := c.state(id); st.Status != berth.Running {
			t.Fatalf("container is %s after a failed checkpoint", st.Status)
		}
		restored := uniqueID(t)
		r = c.run(nil, "restore", "-d", "--image-path", images, "--bundle", bundle, restored)
		if r.Code == 0 || !strings.Contains(lastLine(r.Stderr), "criu") {
			t.Fatalf("restore from a failed checkpoint: %+v", r)
		}
		assertGone(t, c.root, restored, "", 0)
		t.Logf("CRIU cannot work here: %s", line)
		return
	}
	c.waitStatus(id, berth.Stopped)
	c.ok("delete", id)
	c.ok("restore", "-d", "--image-path", images, "--bundle", bundle, id)
	c.waitStatus(id, berth.Running)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
