package nerdctl

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berth-oci/berth/internal/testutil"
)

// runner runs nerdctl commands for one runtime of the lane: its containers
// are named after it (name), and run with it and, unless a check says
// otherwise, without a network.
type runner struct {
	e       *env
	rt      string // the runtime type: io.containerd.runc.v2 or io.containerd.berth.v2
	name    string // short: runc or berth
	project string // its compose project
}

// c is the container n of this runner.
func (r runner) c(n string) string { return r.name + "-" + n }

func (r runner) nerd(args ...string) testutil.Result { return r.e.nerd(args...) }

// run is `nerdctl run` with the runtime and no network before args.
func (r runner) run(args ...string) testutil.Result {
	return r.e.nerd(append([]string{"run", "--runtime", r.rt, "--net", "none"}, args...)...)
}

// inspect returns a field of container n's nerdctl inspect.
func (r runner) inspect(n, format string) string {
	return r.nerd("inspect", "--format", format, r.c(n)).Stdout
}

// waitInspect waits up to timeout for the field to read want, and returns
// what it read last.
func (r runner) waitInspect(n, format, want string, timeout time.Duration) string {
	return testutil.WaitValue(func() string { return r.inspect(n, format) }, want, timeout, 200*time.Millisecond)
}

// withEvents runs f while `nerdctl events` streams, and returns the topics
// of the events about container n (its id's), in order.
func (r runner) withEvents(n string, f func()) []string {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := filepath.Join(r.e.dir, r.c(n)+"-events")
	file, err := os.Create(out)
	if err != nil {
		return []string{err.Error()}
	}
	defer file.Close()
	cmd := exec.CommandContext(ctx, r.e.nerdctl, append(r.e.args(), "events", "--format", "{{.Topic}} {{json .Event}}")...)
	cmd.Stdout = file
	if err := cmd.Start(); err != nil {
		return []string{err.Error()}
	}
	time.Sleep(time.Second) // subscribed
	f()
	time.Sleep(2 * time.Second) // the last events delivered
	cancel()
	_ = cmd.Wait()
	id := r.inspect(n, "{{.Id}}")
	data, _ := os.ReadFile(out)
	var topics []string
	for _, line := range strings.Split(string(data), "\n") {
		if topic, event, ok := strings.Cut(line, " "); ok && id != "" && strings.Contains(event, id) && strings.HasPrefix(topic, "/tasks/") {
			topics = append(topics, topic)
		}
	}
	return topics
}

// check is one thing a nerdctl user does; do returns what happened, to be
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
	{"run -i: stdin reaches the container", "exit 0 piped", func(r runner) string {
		return r.e.nerdIn("piped\n", "run", "--runtime", r.rt, "--net", "none", "-i", "--rm", image, "cat").Outcome()
	}},
	{"run -t: a terminal, and its exit code", "exit 4 /dev/pts/0", func(r runner) string {
		return r.e.nerdTTY("run", "--runtime", r.rt, "--net", "none", "--rm", "-t", image, "sh", "-c", "tty; exit 4").Outcome()
	}},
	{"run on nerdctl's default bridge network (CNI)", "exit 0 inet 10.4.0", func(r runner) string {
		res := r.nerd("run", "--runtime", r.rt, "--rm", image, "sh", "-c", "ip -4 -o addr show eth0")
		if i := strings.Index(res.Stdout, "inet 10.4.0."); i >= 0 {
			res.Stdout = "inet 10.4.0"
		}
		return res.Outcome()
	}},
	{"run -d, then logs -f", "running, logs: started line1", func(r runner) string {
		if res := r.run("-d", "--name", r.c("d1"), image, "sh", "-c",
			"trap 'exit 0' TERM; echo started; i=0; while true; do i=$((i+1)); echo line$i; sleep 1; done"); res.Code != 0 {
			return res.Outcome()
		}
		state := r.waitInspect("d1", "{{.State.Status}}", "running", 20*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, r.e.nerdctl, append(r.e.args(), "logs", "-f", r.c("d1"))...)
		out, err := cmd.StdoutPipe()
		if err != nil || cmd.Start() != nil {
			return state + ", logs -f did not start"
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		buf := make([]byte, 4096)
		var got string
		for !strings.Contains(got, "line1") && ctx.Err() == nil {
			n, err := out.Read(buf)
			got += string(buf[:n])
			if err != nil {
				break
			}
		}
		return state + ", logs: " + strings.Join(strings.Fields(got)[:min(2, len(strings.Fields(got)))], " ")
	}},
	{"exec: its output, and its exit code in nerdctl's error", "exit 1 in-exec, exec failed with exit code 5", func(r runner) string {
		// nerdctl exits 1 and names the process's exit code.
		res := r.nerd("exec", r.c("d1"), "sh", "-c", "echo in-exec; exit 5")
		if i := strings.Index(res.Stderr, "exec failed with exit code "); i >= 0 {
			return fmt.Sprintf("exit %d %s, %s", res.Code, res.Stdout, strings.TrimSuffix(res.Stderr[i:], `"`))
		}
		return res.Outcome()
	}},
	{"exec -t", "exit 0 /dev/pts/0", func(r runner) string {
		return r.e.nerdTTY("exec", "-t", r.c("d1"), "tty").Outcome()
	}},
	{"stats", "exit 0 pids 1", func(r runner) string {
		if res := r.run("-d", "--name", r.c("k1"), image, "sleep", "300"); res.Code != 0 {
			return res.Outcome()
		}
		r.waitInspect("k1", "{{.State.Status}}", "running", 20*time.Second)
		return r.nerd("stats", "--no-stream", "--format", "pids {{.PIDs}}", r.c("k1")).Outcome()
	}},
	{"update then exec", "exit 0 100663296", func(r runner) string {
		if res := r.nerd("update", "--memory", "96m", "--memory-swap", "192m", r.c("d1")); res.Code != 0 {
			return res.Outcome()
		}
		return r.nerd("exec", r.c("d1"), "cat", memoryLimit).Outcome()
	}},
	{"pause, unpause, exec", "paused, running, exit 0 awake", func(r runner) string {
		if res := r.nerd("pause", r.c("d1")); res.Code != 0 {
			return res.Outcome()
		}
		paused := r.inspect("d1", "{{.State.Status}}")
		if res := r.nerd("unpause", r.c("d1")); res.Code != 0 {
			return paused + ", " + res.Outcome()
		}
		return paused + ", " + r.inspect("d1", "{{.State.Status}}") + ", " + r.nerd("exec", r.c("d1"), "echo", "awake").Outcome()
	}},
	{"stop: the container's TERM trap exits 0", "exited 0", func(r runner) string {
		if res := r.nerd("stop", "--time", "10", r.c("d1")); res.Code != 0 {
			return res.Outcome()
		}
		return r.inspect("d1", "{{.State.Status}} {{.State.ExitCode}}")
	}},
	{"stop: TERM ignored, killed after the grace period", "exited 137 after the grace period", func(r runner) string {
		// sleep as pid 1 has no TERM handler: the kernel drops the signal.
		if res := r.run("-d", "--name", r.c("s2"), image, "sleep", "300"); res.Code != 0 {
			return res.Outcome()
		}
		r.waitInspect("s2", "{{.State.Status}}", "running", 20*time.Second)
		start := time.Now()
		if res := r.nerd("stop", "--time", "2", r.c("s2")); res.Code != 0 {
			return res.Outcome()
		}
		took := "after the grace period"
		if d := time.Since(start); d < 2*time.Second {
			took = fmt.Sprintf("after %s, before the grace period", d.Round(time.Millisecond))
		}
		return r.inspect("s2", "{{.State.Status}} {{.State.ExitCode}}") + " " + took
	}},
	{"kill", "exited 137", func(r runner) string {
		if res := r.nerd("kill", r.c("k1")); res.Code != 0 {
			return res.Outcome()
		}
		return r.waitInspect("k1", "{{.State.Status}} {{.State.ExitCode}}", "exited 137", 20*time.Second)
	}},
	{"--restart=always: restarted after its init is killed", "running, 1 restart, a new pid, exit 0 again", func(r runner) string {
		if res := r.run("-d", "--name", r.c("ra"), "--restart=always", image, "sleep", "300"); res.Code != 0 {
			return res.Outcome()
		}
		r.waitInspect("ra", "{{.State.Status}}", "running", 20*time.Second)
		pid := r.inspect("ra", "{{.State.Pid}}")
		var p int
		if _, err := fmt.Sscan(pid, &p); err != nil || p <= 0 {
			return "no pid: " + pid
		}
		if err := syscall.Kill(p, syscall.SIGKILL); err != nil {
			return err.Error()
		}
		got := r.waitInspect("ra", "{{.State.Status}}, {{.RestartCount}} restart", "running, 1 restart", 60*time.Second)
		newPid := "a new pid"
		if now := r.inspect("ra", "{{.State.Pid}}"); now == pid {
			newPid = "the same pid"
		}
		return got + ", " + newPid + ", " + r.nerd("exec", r.c("ra"), "echo", "again").Outcome()
	}},
	{"--memory and --pids-limit", "exit 0 67108864 50", func(r runner) string {
		return r.run("--rm", "--memory", "64m", "--pids-limit", "50", image, "sh", "-c",
			"echo $(cat "+memoryLimit+" /sys/fs/cgroup/pids/pids.max)").Outcome()
	}},
	{"OOM: exit 137 in inspect, one /tasks/oom event", "exit 137, inspect exited 137, events /tasks/create /tasks/start /tasks/oom /tasks/exit", func(r runner) string {
		var res testutil.Result
		topics := r.withEvents("oom", func() {
			// tail of /dev/zero keeps one endless line in memory.
			res = r.run("--name", r.c("oom"), "--memory", "32m", image, "tail", "/dev/zero")
		})
		return fmt.Sprintf("exit %d, inspect %s, events %s", res.Code, r.inspect("oom", "{{.State.Status}} {{.State.ExitCode}}"), strings.Join(topics, " "))
	}},
	{"user namespace: --userns-remap", "exit 0 0 300000 65536, root in the container", func(r runner) string {
		res := r.run("--rm", "--userns-remap", "nobody:nogroup", image, "sh", "-c", "cat /proc/self/uid_map; id -u")
		f := strings.Fields(res.Stdout)
		if res.Code != 0 || len(f) != 4 {
			return res.Outcome()
		}
		who := "root in the container"
		if f[3] != "0" {
			who = "uid " + f[3] + " in the container"
		}
		return fmt.Sprintf("exit 0 %s, %s", strings.Join(f[:3], " "), who)
	}},
	{"compose up and down: two services, one reaches the other by name", "web running, client got hello-from-web, down: 0 containers left", func(r runner) string {
		dir := filepath.Join(r.e.dir, r.project)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err.Error()
		}
		compose := fmt.Sprintf(composeFile, image, r.rt, image, r.rt)
		if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
			return err.Error()
		}
		up := r.nerd("compose", "--project-directory", dir, "-p", r.project, "up", "-d")
		if up.Code != 0 {
			return "up: " + up.Outcome()
		}
		web := r.project + "-web-1"
		state := r.e.nerd("inspect", "--format", "{{.State.Status}}", web).Stdout
		var logs string
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			if logs = r.nerd("logs", r.project+"-client-1").Stdout; strings.Contains(logs, "hello-from-web") {
				break
			}
		}
		got := "nothing"
		if strings.Contains(logs, "hello-from-web") {
			got = "hello-from-web"
		}
		down := r.nerd("compose", "--project-directory", dir, "-p", r.project, "down")
		if down.Code != 0 {
			return "down: " + down.Outcome()
		}
		left := len(strings.Fields(r.nerd("ps", "-aq", "--filter", "label=com.docker.compose.project="+r.project).Stdout))
		return fmt.Sprintf("web %s, client got %s, down: %d containers left", state, got, left)
	}},
}

// composeFile is a two-service project: a web server, and a client that
// fetches its page by the service's name (nerdctl's hosts file on the
// project's CNI network). Both handle TERM, so down is quick.
const composeFile = `services:
  web:
    image: %s
    runtime: %s
    command: ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /www && echo hello-from-web > /www/index.html && httpd -f -p 8080 -h /www & wait"]
  client:
    image: %s
    runtime: %s
    depends_on: [web]
    command: ["sh", "-c", "trap 'exit 0' TERM; for i in $(seq 1 20); do wget -q -O- http://web:8080/ && break; sleep 1; done; sleep 300 & wait"]
`
