package docker

import (
	"fmt"
	"strings"
	"time"

	"github.com/berth-oci/berth/internal/testutil"
)

// runner runs docker commands for one runtime of the lane: its containers
// are named after it, and run with it and without a network.
type runner struct {
	d  *daemon
	rt string
}

// name is the container name n of this runner's runtime.
func (r runner) name(n string) string { return r.rt + "-" + n }

func (r runner) docker(args ...string) testutil.Result { return r.d.docker(args...) }

// run is `docker run` with the runtime and no network before args.
func (r runner) run(args ...string) testutil.Result {
	return r.d.docker(append([]string{"run", "--runtime", r.rt, "--network", "none"}, args...)...)
}

// inspect returns a field of the container n's docker inspect.
func (r runner) inspect(n, format string) string {
	return r.docker("inspect", "--format", format, r.name(n)).Stdout
}

// waitInspect waits up to timeout for the field to read want, and returns
// what it read last.
func (r runner) waitInspect(n, format, want string, timeout time.Duration) string {
	return testutil.WaitValue(func() string { return r.inspect(n, format) }, want, timeout, 100*time.Millisecond)
}

// events counts the events of kind action docker reported for the
// container n since since.
func (r runner) events(n, action string, since time.Time) string {
	until := time.Now()
	res := r.docker("events", "--since", unixNano(since), "--until", unixNano(until),
		"--filter", "container="+r.name(n), "--filter", "event="+action, "--format", "{{.Action}}")
	if res.Code != 0 {
		return res.Outcome()
	}
	return fmt.Sprint(len(strings.Fields(res.Stdout)))
}

func unixNano(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }

// tty drops the terminal's number from tty's output.
func tty(res testutil.Result) testutil.Result {
	res.Stdout = strings.TrimSuffix(strings.TrimRight(res.Stdout, "0123456789"), "/")
	return res
}

// check is one thing a Docker user does; do returns what happened, to be
// compared with want.
type check struct {
	name string
	want string
	do   func(r runner) string
}

// memoryLimit is a cgroup v1 host's memory limit file, as a container
// sees it.
const memoryLimit = "/sys/fs/cgroup/memory/memory.limit_in_bytes"

var checks = []check{
	{"run: exit code and stdout", "exit 3 hello", func(r runner) string {
		return r.run("--rm", image, "sh", "-c", "echo hello; exit 3").Outcome()
	}},
	{"run: a missing command exits 127", "exit 127", func(r runner) string {
		return fmt.Sprint("exit ", r.run("--rm", image, "no-such-command").Code)
	}},
	{"run: a directory as the command exits 126", "exit 126", func(r runner) string {
		return fmt.Sprint("exit ", r.run("--rm", image, "/etc").Code)
	}},
	{"run -i: stdin reaches the container", "exit 0 piped", func(r runner) string {
		return r.d.dockerIn("piped\n", "run", "--runtime", r.rt, "--network", "none", "-i", "--rm", image, "cat").Outcome()
	}},
	{"run -t: a terminal", "exit 0 /dev/pts", func(r runner) string {
		return tty(r.run("--rm", "-t", image, "tty")).Outcome()
	}},
	{"default seccomp profile", "exit 0 Seccomp:\t2; unshare exit 1; unconfined unshare exit 0", func(r runner) string {
		status := r.run("--rm", image, "grep", "Seccomp:", "/proc/self/status").Outcome()
		confined := r.run("--rm", image, "unshare", "-U", "true").Code
		unconfined := r.run("--rm", "--security-opt", "seccomp=unconfined", image, "unshare", "-U", "true").Code
		return fmt.Sprintf("%s; unshare exit %d; unconfined unshare exit %d", status, confined, unconfined)
	}},
	{"detached run and logs", "running, logs: started", func(r runner) string {
		if res := r.run("-d", "--name", r.name("d1"), image, "sh", "-c", "echo started; sleep 300 & wait"); res.Code != 0 {
			return res.Outcome()
		}
		state := r.waitInspect("d1", "{{.State.Status}}", "running", 15*time.Second)
		var logs string
		for i := 0; i < 50 && !strings.Contains(logs, "started"); i++ {
			logs = r.docker("logs", r.name("d1")).Stdout
			time.Sleep(100 * time.Millisecond)
		}
		return state + ", logs: " + logs
	}},
	{"exec", "exit 5 in-exec", func(r runner) string {
		return r.docker("exec", r.name("d1"), "sh", "-c", "echo in-exec; exit 5").Outcome()
	}},
	{"exec -t", "exit 0 /dev/pts", func(r runner) string {
		return tty(r.docker("exec", "-t", r.name("d1"), "tty")).Outcome()
	}},
	{"top (the runtime's ps)", "2 processes", func(r runner) string {
		res := r.docker("top", r.name("d1"))
		if res.Code != 0 {
			return res.Outcome()
		}
		return fmt.Sprintf("%d processes", len(strings.Split(res.Stdout, "\n"))-1)
	}},
	{"stats", "exit 0 pids 2", func(r runner) string {
		return r.docker("stats", "--no-stream", "--format", "pids {{.PIDs}}", r.name("d1")).Outcome()
	}},
	{"pause, unpause, exec", "paused, running, exit 0 awake", func(r runner) string {
		if res := r.docker("pause", r.name("d1")); res.Code != 0 {
			return res.Outcome()
		}
		paused := r.inspect("d1", "{{.State.Status}}")
		if res := r.docker("unpause", r.name("d1")); res.Code != 0 {
			return paused + ", " + res.Outcome()
		}
		return paused + ", " + r.inspect("d1", "{{.State.Status}}") + ", " +
			r.docker("exec", r.name("d1"), "echo", "awake").Outcome()
	}},
	{"update then exec", "exit 0 100663296", func(r runner) string {
		if res := r.docker("update", "--memory", "96m", "--memory-swap", "192m", r.name("d1")); res.Code != 0 {
			return res.Outcome()
		}
		return r.docker("exec", r.name("d1"), "cat", memoryLimit).Outcome()
	}},
	{"kill", "exited 137", func(r runner) string {
		if res := r.docker("kill", r.name("d1")); res.Code != 0 {
			return res.Outcome()
		}
		return r.waitInspect("d1", "{{.State.Status}} {{.State.ExitCode}}", "exited 137", 15*time.Second)
	}},
	{"stop: the container handles TERM", "exited 0", func(r runner) string {
		if res := r.run("-d", "--name", r.name("s1"), image, "sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"); res.Code != 0 {
			return res.Outcome()
		}
		r.waitInspect("s1", "{{.State.Status}}", "running", 15*time.Second)
		time.Sleep(200 * time.Millisecond) // the trap is set once sh runs
		if res := r.docker("stop", "--time", "10", r.name("s1")); res.Code != 0 {
			return res.Outcome()
		}
		return r.inspect("s1", "{{.State.Status}} {{.State.ExitCode}}")
	}},
	{"stop: TERM ignored, killed after the timeout", "exited 137", func(r runner) string {
		// sleep as pid 1 has no TERM handler: the kernel drops the signal.
		if res := r.run("-d", "--name", r.name("s2"), image, "sleep", "300"); res.Code != 0 {
			return res.Outcome()
		}
		if res := r.docker("stop", "--time", "1", r.name("s2")); res.Code != 0 {
			return res.Outcome()
		}
		return r.inspect("s2", "{{.State.Status}} {{.State.ExitCode}}")
	}},
	{"restart: a stopped container starts again", "running, exit 0 again", func(r runner) string {
		if res := r.docker("restart", "--time", "1", r.name("s2")); res.Code != 0 {
			return res.Outcome()
		}
		return r.inspect("s2", "{{.State.Status}}") + ", " + r.docker("exec", r.name("s2"), "echo", "again").Outcome()
	}},
	{"limits: memory, pids, cpus", "exit 0 67108864 50 50000", func(r runner) string {
		return r.run("--rm", "--memory", "64m", "--pids-limit", "50", "--cpus", "0.5", image, "sh", "-c",
			"echo $(cat "+memoryLimit+" /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us)").Outcome()
	}},
	{"OOM: OOMKilled, exit code, oom events per kill", "OOMKilled true, exit 137, oom events 1", func(r runner) string {
		since := time.Now()
		// tail of /dev/zero keeps one endless line in memory.
		res := r.run("--name", r.name("oom"), "--memory", "32m", image, "tail", "/dev/zero")
		time.Sleep(500 * time.Millisecond) // the event is published after the exit
		return fmt.Sprintf("OOMKilled %s, exit %d, oom events %s",
			r.inspect("oom", "{{.State.OOMKilled}}"), res.Code, r.events("oom", "oom", since))
	}},
	{"restart policy on-failure:2", "exited, 2 restarts, exit 1", func(r runner) string {
		if res := r.run("-d", "--name", r.name("rp"), "--restart", "on-failure:2", image, "sh", "-c", "exit 1"); res.Code != 0 {
			return res.Outcome()
		}
		got := r.waitInspect("rp", "{{.State.Status}}, {{.RestartCount}} restarts, exit {{.State.ExitCode}}",
			"exited, 2 restarts, exit 1", 30*time.Second)
		return got
	}},
	{"user and env", "exit 0 1000:1000 bar", func(r runner) string {
		return r.run("--rm", "--user", "1000:1000", "-e", "FOO=bar", image, "sh", "-c", "echo $(id -u):$(id -g) $FOO").Outcome()
	}},
	{"read-only rootfs", "exit 0 read-only", func(r runner) string {
		return r.run("--rm", "--read-only", image, "sh", "-c", "touch /x 2>/dev/null && echo writable || echo read-only").Outcome()
	}},
}

// liveRestore is the live-restore check, in two halves around a restart
// of dockerd: before starts a container, after finds it (same pid, exec,
// logs, stop with its exit code).
var liveRestore = struct {
	name, want string
	before     func(r runner) string
	after      func(r runner, pidBefore string) string
}{
	"live restore: a container outlives a dockerd restart",
	"running, same pid, exit 0 after-restart, logs: up, exited 7",
	func(r runner) string {
		if res := r.run("-d", "--name", r.name("live"), image, "sh", "-c", "trap 'exit 7' TERM; echo up; sleep 300 & wait"); res.Code != 0 {
			return res.Outcome()
		}
		r.waitInspect("live", "{{.State.Status}}", "running", 15*time.Second)
		return r.inspect("live", "{{.State.Pid}}")
	},
	func(r runner, pidBefore string) string {
		state := r.inspect("live", "{{.State.Status}}")
		samePid := "same pid"
		if pid := r.inspect("live", "{{.State.Pid}}"); pid != pidBefore {
			samePid = fmt.Sprintf("pid %s, was %s", pid, pidBefore)
		}
		exec := r.docker("exec", r.name("live"), "echo", "after-restart").Outcome()
		logs := r.docker("logs", r.name("live")).Stdout
		if res := r.docker("stop", "--time", "10", r.name("live")); res.Code != 0 {
			return res.Outcome()
		}
		return fmt.Sprintf("%s, %s, %s, logs: %s, %s", state, samePid, exec, logs,
			r.inspect("live", "{{.State.Status}} {{.State.ExitCode}}"))
	},
}
