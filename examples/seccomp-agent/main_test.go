package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/internal/testutil"
	"github.com/berth-oci/berth/seccomp"
	"github.com/berth-oci/berth/spec"
)

// TestSeccompAgent runs a container whose mkdir calls go to this agent:
// on a read-only rootfs a real mkdir fails, so success proves the agent
// answered.
func TestSeccompAgent(t *testing.T) {
	testutil.RequireRoot(t, "runs a real container")
	berthBin := os.Getenv("BERTH_BINARY")
	if berthBin == "" {
		t.Fatal("BERTH_BINARY is not set (run make test)")
	}
	dir := t.TempDir()
	agentBin := filepath.Join(dir, "agent")
	goBin := os.Getenv("BERTH_GO")
	if goBin == "" {
		goBin = "go"
	}
	// As a program of its own: upstream libcontainer, not the workspace's.
	build := exec.Command(goBin, "build", "-tags", "seccomp", "-o", agentBin, ".")
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build agent: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "agent.sock")
	agent := exec.Command(agentBin, sock)
	stdout, _ := agent.StdoutPipe()
	agent.Stderr = os.Stderr
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = agent.Process.Kill(); _ = agent.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case l := <-lines:
		if !strings.HasPrefix(l, "listening") {
			t.Fatalf("agent said %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not start")
	}

	profile := seccomp.DefaultProfile(spec.Default().Process.Capabilities.Bounding)
	profile.ListenerPath = sock
	// A call listed under two actions keeps the first: take mkdir out of
	// the allowlist before handing it to the agent.
	for i := range profile.Syscalls {
		profile.Syscalls[i].Names = slices.DeleteFunc(profile.Syscalls[i].Names, func(n string) bool { return n == "mkdir" || n == "mkdirat" })
	}
	profile.Syscalls = append(profile.Syscalls, specs.LinuxSyscall{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify})
	bundle := filepath.Join(dir, "bundle")
	if err := busybox.MakeBundle(bundle, spec.WithSeccomp(profile),
		spec.WithArgs("sh", "-c", "mkdir /new-dir && echo mkdir-ok || echo mkdir-failed; [ -d /new-dir ] || echo not-created")); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "state")
	out, err := exec.Command(berthBin, "--root", root, "run", "--bundle", bundle, "agent-test").CombinedOutput()
	if err != nil {
		t.Fatalf("berth run: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "mkdir-ok\nnot-created" {
		t.Fatalf("container printed %q", got)
	}
	var log []string
	deadline := time.After(5 * time.Second)
	for !strings.Contains(strings.Join(log, "\n"), "faked success") {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("agent log %q", log)
			}
			log = append(log, l)
		case <-deadline:
			t.Fatalf("agent log %q lacks the mkdir decision", log)
		}
	}
}
