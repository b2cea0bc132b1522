package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/console"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-oci/berth/internal/testutil"
	"github.com/berth-oci/berth/spec"
)

// The tests in this file run one scenario through berth and through runc
// v1.5.2 (RUNC_BINARY, set by make) and require berth to behave as runc
// does: the drop-in rule. Each scenario also states runc's behaviour, so a
// runc that changed would show up here too.

// runcBinary returns the reference runc (RUNC_BINARY).
func runcBinary(t *testing.T) string {
	t.Helper()
	return testutil.Binary(t, "RUNC_BINARY", "../.cache/conformance/runc/runc")
}

// sideBySide returns a berth and a runc CLI, each with its own root.
func sideBySide(t *testing.T) map[string]*cli {
	b := newCLI(t)
	r := &cli{t: t, bin: runcBinary(t), root: t.TempDir()}
	t.Cleanup(r.removeAll)
	return map[string]*cli{"berth": b, "runc": r}
}

// eachRuntime runs scenario with berth and runc and fails unless both
// return want.
func eachRuntime(t *testing.T, want string, scenario func(t *testing.T, c *cli) string) {
	t.Helper()
	for name, c := range sideBySide(t) {
		if got := scenario(t, c); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
}

func outcome(r result) string { return fmt.Sprintf("exit %d", r.Code) }

// detachedSleeper runs a detached container that sleeps, and returns its id.
func detachedSleeper(t *testing.T, c *cli, opts ...spec.Option) string {
	t.Helper()
	bundle := newBundle(t, append([]spec.Option{spec.WithArgs("sleep", "600")}, opts...)...)
	id := uniqueID(t)
	c.ok("run", "-d", "--bundle", bundle, id)
	return id
}

// TestParityDeleteForceMissing: delete --force of an id that does not
// exist succeeds; without --force it fails.
func TestParityDeleteForceMissing(t *testing.T) {
	t.Parallel()
	eachRuntime(t, "force: exit 0, plain: exit 1", func(t *testing.T, c *cli) string {
		return "force: " + outcome(c.run(nil, "delete", "--force", "nosuchcontainer")) +
			", plain: " + outcome(c.run(nil, "delete", "nosuchcontainer"))
	})
}

// TestParityKillAllStopped: kill --all of a stopped container succeeds
// (nothing to signal); a plain kill of it fails.
func TestParityKillAllStopped(t *testing.T) {
	t.Parallel()
	eachRuntime(t, "all: exit 0, plain: exit 1", func(t *testing.T, c *cli) string {
		id := uniqueID(t)
		c.ok("run", "-d", "--bundle", newBundle(t, spec.WithArgs("true")), id)
		c.waitStatus(id, "stopped")
		all := c.run(nil, "kill", "-a", id, "0")
		if strings.Contains(all.Stderr, "with :") {
			t.Errorf("signal 0 named as nothing: %s", all.Stderr)
		}
		return "all: " + outcome(all) + ", plain: " + outcome(c.run(nil, "kill", id, "KILL"))
	})
}

// TestParityOCIVersion: a spec of another runtime-spec version, or of
// none, runs: runc checks no version.
func TestParityOCIVersion(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"2.0.0", "", "not-a-version"} {
		eachRuntime(t, "exit 0", func(t *testing.T, c *cli) string {
			bundle := newBundle(t, spec.WithArgs("true"), func(s *specs.Spec) { s.Version = v })
			return outcome(c.run(nil, "run", "--bundle", bundle, uniqueID(t)))
		})
	}
}

// TestParityListRoot: list with a --root that does not exist is an error;
// without --root, a missing default root is an empty list.
func TestParityListRoot(t *testing.T) {
	t.Parallel()
	eachRuntime(t, "exit 1", func(t *testing.T, c *cli) string {
		return outcome(c.run(nil, "--root", filepath.Join(t.TempDir(), "nope"), "list"))
	})
}

// TestParityExecCreated: a process can be exec'd into a created container,
// which stays created.
func TestParityExecCreated(t *testing.T) {
	t.Parallel()
	eachRuntime(t, "exit 0 out ok created", func(t *testing.T, c *cli) string {
		id := uniqueID(t)
		c.ok("create", "--bundle", newBundle(t, spec.WithArgs("sleep", "600")), id)
		r := c.run(nil, "exec", id, "echo", "ok")
		return fmt.Sprintf("%s out %s %s", outcome(r), strings.TrimSpace(r.Stdout), c.state(id).Status)
	})
}

// TestParityUnknownCapabilities: capability names runc does not know, with
// or without the CAP_ prefix, are warned about and ignored.
func TestParityUnknownCapabilities(t *testing.T) {
	t.Parallel()
	eachRuntime(t, "exit 0 warned", func(t *testing.T, c *cli) string {
		bundle := newBundle(t, spec.WithArgs("true"), spec.WithCapabilities("CAP_KILL", "UNKNOWN_CAP", "CAP_UNKNOWN"))
		r := c.run(nil, "run", "--bundle", bundle, uniqueID(t))
		warned := "warned"
		if !strings.Contains(r.Stderr, "UNKNOWN_CAP") {
			warned = "no warning: " + r.Stderr
		}
		return outcome(r) + " " + warned
	})
}

// TestParityCheckpointParentPath: an absolute or missing --parent-path is
// refused before CRIU is asked, with a message naming the flag.
func TestParityCheckpointParentPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, parent string }{{"absolute", "/parent"}, {"missing", "parent"}} {
		t.Run(tc.name, func(t *testing.T) {
			eachRuntime(t, "exit 1 names --parent-path", func(t *testing.T, c *cli) string {
				id := detachedSleeper(t, c)
				images := t.TempDir()
				r := c.run(nil, "checkpoint", "--pre-dump", "--image-path", images, "--parent-path", tc.parent, id)
				named := "names --parent-path"
				if !strings.Contains(r.Stderr, "--parent-path") {
					named = "error: " + r.Stderr
				}
				return outcome(r) + " " + named
			})
		})
	}
}

// TestParityUpdateBlkioDevices: update -r changes the per-device blkio
// throttles it lists (and only those) on top of the container's own.
func TestParityUpdateBlkioDevices(t *testing.T) {
	t.Parallel()
	major, minor := diskNumbers(t)
	dev := func(rate uint64) []specs.LinuxThrottleDevice {
		return []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: rate}}
	}
	update, err := json.Marshal(specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
		ThrottleReadBpsDevice:   dev(1048576),
		ThrottleWriteBpsDevice:  dev(2097152),
		ThrottleReadIOPSDevice:  dev(100),
		ThrottleWriteIOPSDevice: dev(200),
	}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "resources.json")
	if err := os.WriteFile(file, update, 0o644); err != nil {
		t.Fatal(err)
	}
	d := fmt.Sprintf("%d:%d ", major, minor)
	want := "exit 0: " + d + "1048576 " + d + "2097152 " + d + "100 " + d + "200"
	eachRuntime(t, want, func(t *testing.T, c *cli) string {
		id := detachedSleeper(t, c)
		r := c.run(nil, "update", "-r", file, id)
		pid := c.state(id).Pid
		var got []string
		for _, f := range []string{"read_bps_device", "write_bps_device", "read_iops_device", "write_iops_device"} {
			got = append(got, cgroupFile(t, pid, "blkio", "blkio.throttle."+f))
		}
		return outcome(r) + ": " + strings.Join(got, " ")
	})
}

// firstDisk names a block device of this machine (not a partition).
func firstDisk(t *testing.T) string {
	t.Helper()
	entries, err := os.ReadDir("/sys/block")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "loop") && !strings.HasPrefix(e.Name(), "zram") && !strings.HasPrefix(e.Name(), "ram") {
			return e.Name()
		}
	}
	t.Skip("no disk in /sys/block to throttle")
	return ""
}

func diskNumbers(t *testing.T) (int64, int64) {
	data, err := os.ReadFile("/sys/block/" + firstDisk(t) + "/dev")
	if err != nil {
		t.Fatal(err)
	}
	var major, minor int64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(data)), "%d:%d", &major, &minor); err != nil {
		t.Fatal(err)
	}
	return major, minor
}

// TestParityUpdateCPUIdle: update --cpu-idle 1 of a container with cpu
// shares in its spec works (shares are left alone), and back to 0.
func TestParityUpdateCPUIdle(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cpu.idle"); err != nil {
		t.Skip("no cpu.idle on this host's cpu controller")
	}
	eachRuntime(t, "exit 0 idle 1, exit 0 idle 0", func(t *testing.T, c *cli) string {
		id := detachedSleeper(t, c, spec.WithCPUShares(512))
		pid := c.state(id).Pid
		on := c.run(nil, "update", "--cpu-idle", "1", id)
		idleOn := cgroupFile(t, pid, "cpu", "cpu.idle")
		off := c.run(nil, "update", "--cpu-idle", "0", id)
		return fmt.Sprintf("%s idle %s, %s idle %s", outcome(on), idleOn, outcome(off), cgroupFile(t, pid, "cpu", "cpu.idle"))
	})
}

// TestParityPidfdSocket: create, run and exec with --pidfd-socket send a
// pidfd of the new process to the socket.
func TestParityPidfdSocket(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"create", "run", "exec"} {
		t.Run(cmd, func(t *testing.T) {
			eachRuntime(t, "exit 0 pidfd of the process", func(t *testing.T, c *cli) string {
				sock, pidfds := pidfdListener(t)
				var r result
				var pid int
				switch cmd {
				case "create", "run":
					id := uniqueID(t)
					args := []string{cmd, "--pidfd-socket", sock, "--bundle", newBundle(t, spec.WithArgs("sleep", "600")), id}
					if cmd == "run" {
						args = append(args[:1], append([]string{"-d"}, args[1:]...)...)
					}
					r = c.run(nil, args...)
					pid = c.state(id).Pid
				case "exec":
					id := detachedSleeper(t, c)
					pidFile := filepath.Join(t.TempDir(), "exec.pid")
					r = c.run(nil, "exec", "-d", "--pid-file", pidFile, "--pidfd-socket", sock, id, "sleep", "600")
					data, _ := os.ReadFile(pidFile)
					_, _ = fmt.Sscan(string(data), &pid)
				}
				select {
				case fdPid := <-pidfds:
					if fdPid != pid {
						return fmt.Sprintf("%s, pidfd of pid %d, process is %d", outcome(r), fdPid, pid)
					}
				case <-time.After(10 * time.Second):
					return outcome(r) + ", no pidfd received: " + r.Stderr
				}
				return outcome(r) + " pidfd of the process"
			})
		})
	}
}

// pidfdListener listens on a unix socket and sends, for the first
// connection, the pid that the pidfd it carries refers to (-1 if none).
func pidfdListener(t *testing.T) (string, <-chan int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pidfd.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out := make(chan int, 1)
	go func() {
		conn, err := ln.AcceptUnix()
		if err != nil {
			out <- -1
			return
		}
		defer conn.Close()
		pidfd, err := testutil.ReceiveFd(conn)
		if err != nil {
			out <- -1
			return
		}
		defer pidfd.Close()
		out <- pidOfPidfd(int(pidfd.Fd()))
	}()
	return path, out
}

// pidOfPidfd reads the Pid line of a pidfd's fdinfo (-1 if it is none).
func pidOfPidfd(fd int) int {
	if link, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); link != "anon_inode:[pidfd]" {
		return -1
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Pid:"); ok {
			var pid int
			_, _ = fmt.Sscan(strings.TrimSpace(v), &pid)
			return pid
		}
	}
	return -1
}

// TestParityRealSeccompProfiles: the default profiles of podman 4.3.1 and
// containerd 2.2.1 (Kubernetes' RuntimeDefault) run.
func TestParityRealSeccompProfiles(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"podman-4.3.1-default.json", "containerd-2.2.1-runtime-default.json"} {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "seccomp", "testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			var p specs.LinuxSeccomp
			if err := json.Unmarshal(data, &p); err != nil {
				t.Fatal(err)
			}
			eachRuntime(t, "exit 0 out ok", func(t *testing.T, c *cli) string {
				bundle := newBundle(t, spec.WithArgs("sh", "-c", "mkdir /dev/shm/d && echo ok"), spec.WithSeccomp(&p))
				r := c.run(nil, "run", "--bundle", bundle, uniqueID(t))
				return outcome(r) + " out " + strings.TrimSpace(r.Stdout) + strings.TrimSpace(r.Stderr)
			})
		})
	}
}

// TestParityTerminalNewlines: a foreground run on a terminal passes the
// container's "\n" through as "\n", every time: ONLCR is off before the
// container's process can write. A poststart hook that sleeps holds the
// runtime between the start and its return, so a runtime that turns ONLCR
// off only after the start returns shows "\r\n" every time.
func TestParityTerminalNewlines(t *testing.T) {
	t.Parallel()
	const runs = 5
	slowPoststart := func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "0.2"}}}}
	}
	eachRuntime(t, fmt.Sprintf("%d of %d runs without \\r\\n", runs, runs), func(t *testing.T, c *cli) string {
		bundle := newBundle(t, spec.WithTerminal(true), spec.WithArgs("echo", "line"), slowPoststart)
		clean := 0
		for i := 0; i < runs; i++ {
			out := runOnPty(t, c, bundle)
			if !strings.Contains(out, "line") {
				t.Fatalf("output %q", out)
			}
			if !strings.Contains(out, "\r\n") {
				clean++
			}
		}
		return fmt.Sprintf("%d of %d runs without \\r\\n", clean, runs)
	})
}

// runOnPty runs the bundle in the foreground on a new pseudo-terminal and
// returns what the terminal showed.
func runOnPty(t *testing.T, c *cli, bundle string) string {
	t.Helper()
	master, slave := testutil.Pty(t)
	// Any "\r" must come from the container's terminal, not the test's.
	if err := console.ClearONLCR(slave.Fd()); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(c.bin, "--root", c.root, "run", "--bundle", bundle, uniqueID(t))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	read := make(chan string, 1)
	go func() {
		// Ends with EIO once no one has the terminal open.
		data, _ := io.ReadAll(master)
		read <- string(data)
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run: %v", err)
	}
	select {
	case out := <-read:
		return out
	case <-time.After(10 * time.Second):
		t.Fatal("terminal output did not end")
		return ""
	}
}

// TestParityEventsOOM: `events` of a container whose memory hog the OOM
// killer stops reports one oom event. (runc's stream goes on until the
// container's cgroup is removed; berth's ends when the container stops, so
// the test reads for a fixed time.)
func TestParityEventsOOM(t *testing.T) {
	t.Parallel()
	eachRuntime(t, "1 oom event", func(t *testing.T, c *cli) string {
		id := detachedSleeper(t, c, spec.WithMemoryLimit(16<<20),
			spec.WithArgs("sh", "-c", `sleep 1; x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done`))
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		out, _ := exec.CommandContext(ctx, c.bin, "--root", c.root, "events", "--interval", "1s", id).Output()
		ooms := 0
		for _, line := range strings.Split(string(out), "\n") {
			var e struct{ Type string }
			if json.Unmarshal([]byte(line), &e) == nil && e.Type == "oom" {
				ooms++
			}
		}
		c.ok("delete", "-f", id)
		return fmt.Sprintf("%d oom event", ooms)
	})
}

// TestParityFeaturesCheckpoint: features says checkpoint and restore are
// there with runc's annotation, as runc does (containerd's CRI reads it).
func TestParityFeaturesCheckpoint(t *testing.T) {
	t.Parallel()
	eachRuntime(t, `checkpoint "true"`, func(t *testing.T, c *cli) string {
		var f struct{ Annotations map[string]string }
		if err := json.Unmarshal([]byte(c.ok("features")), &f); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("checkpoint %q", f.Annotations["org.opencontainers.runc.checkpoint.enabled"])
	})
}

// TestParityFeaturesUnsafeAnnotations: features lists the annotations
// that change what the runtime does as runc v1.5.2 lists its own, less
// "bundle", which runc honours (it overrides the bundle path runc
// records) and berth does not (toConfig keeps the bundle it was given).
func TestParityFeaturesUnsafeAnnotations(t *testing.T) {
	t.Parallel()
	lists := map[string][]string{}
	for name, c := range sideBySide(t) {
		var f struct {
			PotentiallyUnsafeConfigAnnotations []string `json:"potentiallyUnsafeConfigAnnotations"`
		}
		if err := json.Unmarshal([]byte(c.ok("features")), &f); err != nil {
			t.Fatal(err)
		}
		lists[name] = f.PotentiallyUnsafeConfigAnnotations
	}
	want := slices.DeleteFunc(slices.Clone(lists["runc"]), func(a string) bool { return a == "bundle" })
	if !slices.Equal(lists["berth"], want) {
		t.Errorf("berth lists %q; runc lists %q, so berth should list %q", lists["berth"], lists["runc"], want)
	}
}

// TestParityUpdateIntelRdtRefused: on a host whose RDT does not enable
// them (this one has no resctrl), update --l3-cache-schema and
// --mem-bw-schema are refused in runc's words, and a memory limit given
// with them is not applied either.
func TestParityUpdateIntelRdtRefused(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/sys/fs/resctrl/info"); err == nil {
		t.Skip("this host has Intel RDT (resctrl): the refusal cannot be seen here")
	}
	refusal := func(r result) string {
		for _, msg := range []string{"Intel RDT/CAT: l3 cache schema is not enabled", "Intel RDT/MBA: memory bandwidth schema is not enabled"} {
			if strings.Contains(r.Stderr, msg) {
				return fmt.Sprintf("%s %q", outcome(r), msg)
			}
		}
		return fmt.Sprintf("%s, stderr %q", outcome(r), r.Stderr)
	}
	eachRuntime(t, `l3: exit 1 "Intel RDT/CAT: l3 cache schema is not enabled"; `+
		`mem bw: exit 1 "Intel RDT/MBA: memory bandwidth schema is not enabled"; memory limit 67108864`,
		func(t *testing.T, c *cli) string {
			id := detachedSleeper(t, c, spec.WithMemoryLimit(64<<20))
			pid := c.state(id).Pid
			l3 := c.run(nil, "update", "--memory", "100000000", "--l3-cache-schema", "L3:0=f", id)
			mb := c.run(nil, "update", "--mem-bw-schema", "MB:0=50", id)
			return fmt.Sprintf("l3: %s; mem bw: %s; memory limit %s", refusal(l3), refusal(mb), cgroupFile(t, pid, "memory", "memory.limit_in_bytes"))
		})
}
