// Command bench times berth side by side with runc and crun on the same
// machine and busybox bundle, in one run, and prints medians, min/max and
// the berth/peer ratios:
//
//  1. CLI `run` of /bin/true: wall time, CPU time (user+sys of the runtime
//     and the descendants it reaped) and peak RSS;
//  2. the create, start and delete steps timed separately;
//  3. `exec` of /bin/true into a running container, and (3b) `state` and
//     `list` with 100 created containers;
//  4. through containerd 1.6, `ctr run --rm` of /bin/true and `ctr task
//     exec` with containerd-shim-berth-v2 and containerd's runc shim
//     (running runc v1.5.2);
//  5. density: sleeping containers started 10 at a time through each shim,
//     with shim PSS and host memory per container;
//
// and 1r and 3r, sections 1 and 3 again on the spec `runc spec` writes (no
// seccomp profile), where libcontainer does the same work for each runtime.
//
// Section 6, Go microbenchmarks of the library, is `go test -bench`, run
// by `make bench` after this program.
//
// crun refuses this host's hybrid cgroups, so it runs in a private mount
// namespace with /sys/fs/cgroup/unified unmounted; crun 1.8 also refuses
// ociVersion 1.3.0, so its copy of the bundle declares 1.0.2.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/spec"
)

type runtime struct {
	name   string
	argv   []string // command and leading arguments
	root   string
	bundle string
	note   string
}

func (r *runtime) cmd(args ...string) *exec.Cmd {
	all := append(append(append([]string{}, r.argv[1:]...), "--root", r.root), args...)
	c := exec.Command(r.argv[0], all...)
	c.Dir = r.bundle
	return c
}

// sample is one measured command.
type sample struct {
	wall, cpu time.Duration
	maxRSS    int64 // KiB
}

func measure(c *exec.Cmd) (sample, error) {
	// A file, not a pipe: create and run -d hand their stdio to the
	// container, which would hold a pipe open for its whole life.
	out, err := os.CreateTemp("", "bench-out")
	if err != nil {
		return sample{}, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	c.Stdout, c.Stderr = out, out
	start := time.Now()
	err = c.Run()
	wall := time.Since(start)
	if err != nil {
		msg, _ := os.ReadFile(out.Name())
		return sample{}, fmt.Errorf("%s: %v: %s", strings.Join(c.Args, " "), err, msg)
	}
	ru := c.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return sample{wall: wall, cpu: cpu, maxRSS: ru.Maxrss}, nil
}

type stats struct{ median, min, max float64 }

func summarize(xs []float64) stats {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return stats{median: s[len(s)/2], min: s[0], max: s[len(s)-1]}
}

func main() {
	berth := flag.String("berth", "bin/berth", "berth binary")
	berthCompiling := flag.String("berth-compiling", "", "berth built on upstream libcontainer, whose inits compile the seccomp profile (empty to skip)")
	runc := flag.String("runc", "", "runc binary")
	crun := flag.String("crun", "crun", "crun binary (empty to skip)")
	n := flag.Int("n", 200, "runs per measurement")
	containerd := flag.String("containerd", "", "containerd 1.6 binary for sections 4 and 5 (empty to skip)")
	ctr := flag.String("ctr", "ctr", "ctr binary matching -containerd")
	shim := flag.String("shim", "bin/containerd-shim-berth-v2", "berth's shim binary")
	shimCompiling := flag.String("shim-compiling", "", "berth's shim on upstream libcontainer, for section 4s (empty to skip it there)")
	count := flag.Int("density", 100, "containers per runtime in section 5")
	sections := flag.String("sections", "12345", "sections to run: 1-3 (the CLI, run together) and 4-5 (containerd; 4 includes 4s)")
	flag.Parse()
	var err error
	if strings.ContainsAny(*sections, "123") {
		err = runCLI(*berth, *berthCompiling, *runc, *crun, *n)
	}
	if err == nil && *containerd != "" && strings.ContainsAny(*sections, "45") {
		err = runShims(*containerd, *ctr, *shim, *shimCompiling, *runc, *n, *count, *sections)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runShims runs sections 4 and 5 under a private containerd.
// compilingRuntime is the runtime name under which containerd finds
// -shim-compiling (as containerd-shim-berthc-v2, linked into a directory
// of its PATH).
const compilingRuntime = "io.containerd.berthc.v2"

func runShims(containerdBin, ctrBin, shim, shimCompiling, runcBin string, n, count int, sections string) error {
	shimDir, err := filepath.Abs(filepath.Dir(shim))
	if err != nil {
		return err
	}
	rts, err := shimRuntimes(runcBin)
	if err != nil {
		return err
	}
	compiling := ""
	if shimCompiling != "" {
		abs, err := filepath.Abs(shimCompiling)
		if err != nil {
			return err
		}
		linkDir, err := os.MkdirTemp("", "berth-bench-shims")
		if err != nil {
			return err
		}
		defer os.RemoveAll(linkDir)
		if err := os.Symlink(abs, filepath.Join(linkDir, "containerd-shim-berthc-v2")); err != nil {
			return err
		}
		shimDir += ":" + linkDir
		compiling = compilingRuntime
	}
	d, err := startDaemon(containerdBin, ctrBin, shimDir)
	if err != nil {
		return err
	}
	defer d.stop()
	if strings.Contains(sections, "4") {
		if err := benchShims(d, rts, n); err != nil {
			return err
		}
		if err := benchShimsSeccomp(d, rts, compiling, n); err != nil {
			return err
		}
	}
	if !strings.Contains(sections, "5") {
		return nil
	}
	return benchDensity(d, rts, count)
}

func runCLI(berthBin, berthCompilingBin, runcBin, crunBin string, n int) error {
	dir, err := os.MkdirTemp("", "berth-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rootfs := filepath.Join(dir, "rootfs")
	if err := busybox.MakeRootfs(rootfs); err != nil {
		return err
	}
	mkBundle := func(name, version string, args ...string) (string, error) {
		b := filepath.Join(dir, "bundle-"+name)
		if err := os.MkdirAll(b, 0o755); err != nil {
			return "", err
		}
		s := spec.New(spec.WithRootPath(rootfs), spec.WithArgs(args...))
		if version != "" {
			s.Version = version
		}
		data, _ := json.MarshalIndent(s, "", "\t")
		return b, os.WriteFile(filepath.Join(b, "config.json"), data, 0o644)
	}
	var rts []*runtime
	add := func(name string, argv []string, version, note string) error {
		b, err := mkBundle(name, version, "/bin/true")
		if err != nil {
			return err
		}
		rts = append(rts, &runtime{name: name, argv: argv, root: filepath.Join(dir, "root-"+name), bundle: b, note: note})
		return nil
	}
	abs, _ := filepath.Abs(berthBin)
	if err := add("berth", []string{abs}, "", ""); err != nil {
		return err
	}
	if berthCompilingBin != "" {
		abs, _ := filepath.Abs(berthCompilingBin)
		if err := add("berth-compiling", []string{abs}, "", "berth on upstream libcontainer: every init and exec'd process compiles the seccomp profile"); err != nil {
			return err
		}
	}
	if runcBin != "" {
		abs, _ := filepath.Abs(runcBin)
		if err := add("runc", []string{abs}, "", ""); err != nil {
			return err
		}
	}
	if crunBin != "" {
		if p, err := exec.LookPath(crunBin); err == nil {
			wrapper := filepath.Join(dir, "crun.sh")
			script := fmt.Sprintf("#!/bin/sh\nexec unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec %s \"$@\"' crun \"$@\"\n", p)
			if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
				return err
			}
			if err := add("crun", []string{wrapper}, "1.0.2", "private mount ns without /sys/fs/cgroup/unified; ociVersion 1.0.2"); err != nil {
				return err
			}
		}
	}
	fmt.Printf("bench: %d runs per measurement, busybox bundle, %s\n", n, time.Now().UTC().Format("2006-01-02"))
	for _, r := range rts {
		if r.note != "" {
			fmt.Printf("  %s: %s\n", r.name, r.note)
		}
	}

	// 1. run /bin/true.
	fmt.Println("\n1. CLI run of /bin/true")
	if err := benchRun(rts, n); err != nil {
		return err
	}

	// 2. create, start, delete.
	fmt.Println("\n2. create / start / delete, each timed")
	steps := map[string]map[string][]sample{"create": {}, "start": {}, "delete": {}}
	for i := range n {
		for _, r := range rts {
			id := fmt.Sprintf("steps-%d", i)
			for _, step := range []struct {
				name string
				args []string
			}{{"create", []string{"create", id}}, {"start", []string{"start", id}}} {
				s, err := measure(r.cmd(step.args...))
				if err != nil {
					return err
				}
				steps[step.name][r.name] = append(steps[step.name][r.name], s)
			}
			waitStopped(r, id)
			s, err := measure(r.cmd("delete", id))
			if err != nil {
				return err
			}
			steps["delete"][r.name] = append(steps["delete"][r.name], s)
		}
	}
	for _, step := range []string{"create", "start", "delete"} {
		fmt.Printf("  %s\n", step)
		table(rts, []metric{wallMs}, steps[step])
	}

	// 3. exec /bin/true into a running container.
	fmt.Println("\n3. exec of /bin/true into a running container")
	if err := benchExec(rts, mkBundle, n); err != nil {
		return err
	}
	if err := benchStateList(rts, mkBundle, n, 100); err != nil {
		return err
	}

	// 1r and 3r: the same on the spec `runc spec` writes (no seccomp
	// profile), where libcontainer does the same work for every runtime.
	if runcBin == "" {
		return nil
	}
	mkRunc := func(name, version string, args ...string) (string, error) {
		return mkRuncSpecBundle(runcBin, filepath.Join(dir, "runcspec-"+name), rootfs, version, args...)
	}
	var rrts []*runtime
	for _, r := range rts {
		rr := *r
		rr.root = r.root + "-runcspec"
		b, err := mkRunc(r.name, map[bool]string{true: "1.0.2"}[r.name == "crun"], "/bin/true")
		if err != nil {
			return err
		}
		rr.bundle = b
		rrts = append(rrts, &rr)
	}
	fmt.Println("\n1r. CLI run of /bin/true, on runc's own spec (runc spec: no seccomp)")
	if err := benchRun(rrts, n); err != nil {
		return err
	}
	fmt.Println("\n3r. exec of /bin/true into a running container, on runc's own spec")
	return benchExec(rrts, mkRunc, n)
}

// mkRuncSpecBundle writes, in dir, the spec `runc spec` generates, with
// only the root path, the args, terminal off and, when set, the version
// changed.
func mkRuncSpecBundle(runcBin, dir, rootfs, version string, args ...string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if out, err := exec.Command(runcBin, "spec", "--bundle", dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("runc spec: %v: %s", err, out)
	}
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var s map[string]any
	if err := json.Unmarshal(data, &s); err != nil {
		return "", err
	}
	s["root"] = map[string]any{"path": rootfs, "readonly": true}
	proc := s["process"].(map[string]any)
	proc["args"] = args
	proc["terminal"] = false
	if version != "" {
		s["ociVersion"] = version
	}
	data, _ = json.MarshalIndent(s, "", "\t")
	return dir, os.WriteFile(path, data, 0o644)
}

// benchRun is section 1: `run` of each runtime's bundle, interleaved.
func benchRun(rts []*runtime, n int) error {
	runs := map[string][]sample{}
	for i := range n {
		for _, r := range rts { // interleaved, so drift hits every runtime alike
			s, err := measure(r.cmd("run", fmt.Sprintf("run-%d", i)))
			if err != nil {
				return err
			}
			runs[r.name] = append(runs[r.name], s)
		}
	}
	table(rts, []metric{
		wallMs,
		{"cpu ms", func(s sample) float64 { return float64(s.cpu.Microseconds()) / 1000 }},
		{"peak RSS MiB", func(s sample) float64 { return float64(s.maxRSS) / 1024 }},
	}, runs)
	return nil
}

// benchExec is section 3: `exec` of /bin/true into a sleeping container of
// each runtime, interleaved.
func benchExec(rts []*runtime, mkBundle func(name, version string, args ...string) (string, error), n int) error {
	var sleepers []*runtime
	defer func() {
		for _, sl := range sleepers {
			_, _ = measure(sl.cmd("delete", "-f", "sleeper-"+sl.name))
		}
	}()
	for _, r := range rts {
		b, err := mkBundle(r.name+"-sleep", map[bool]string{true: "1.0.2"}[r.name == "crun"], "sleep", "1000")
		if err != nil {
			return err
		}
		sl := *r
		sl.bundle = b
		if _, err := measure(sl.cmd("run", "-d", "sleeper-"+r.name)); err != nil {
			return err
		}
		sleepers = append(sleepers, &sl)
	}
	execs := map[string][]sample{}
	for range n {
		for _, sl := range sleepers { // interleaved, as in section 1
			s, err := measure(sl.cmd("exec", "sleeper-"+sl.name, "/bin/true"))
			if err != nil {
				return err
			}
			execs[sl.name] = append(execs[sl.name], s)
		}
	}
	table(rts, []metric{wallMs}, execs)
	return nil
}

// benchStateList is section 3b: `state` of one container and `list` of
// count created containers (init waiting for start), through each CLI.
func benchStateList(rts []*runtime, mkBundle func(name, version string, args ...string) (string, error), n, count int) error {
	fmt.Printf("\n3b. state of a container, and list with %d created containers\n", count)
	var made []*runtime
	defer func() {
		for _, r := range made {
			for i := range count {
				_, _ = measure(r.cmd("delete", "-f", fmt.Sprintf("list-%s-%d", r.name, i)))
			}
		}
	}()
	for _, r := range rts {
		b, err := mkBundle(r.name+"-list", map[bool]string{true: "1.0.2"}[r.name == "crun"], "sleep", "1000")
		if err != nil {
			return err
		}
		lr := *r
		lr.bundle = b
		made = append(made, &lr)
		for i := range count {
			if _, err := measure(lr.cmd("create", fmt.Sprintf("list-%s-%d", r.name, i))); err != nil {
				return err
			}
		}
	}
	states, lists := map[string][]sample{}, map[string][]sample{}
	for range n {
		for _, r := range made {
			s, err := measure(r.cmd("state", fmt.Sprintf("list-%s-0", r.name)))
			if err != nil {
				return err
			}
			states[r.name] = append(states[r.name], s)
			if s, err = measure(r.cmd("list")); err != nil {
				return err
			}
			lists[r.name] = append(lists[r.name], s)
		}
	}
	fmt.Println("  state")
	table(rts, []metric{wallMs}, states)
	fmt.Println("  list")
	table(rts, []metric{wallMs}, lists)
	return nil
}

func waitStopped(r *runtime, id string) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		out, err := r.cmd("state", id).Output()
		if err != nil || strings.Contains(string(out), `"stopped"`) {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type metric struct {
	name string
	get  func(sample) float64
}

// wallMs is a sample's wall time in milliseconds.
var wallMs = metric{"wall ms", func(s sample) float64 { return float64(s.wall.Microseconds()) / 1000 }}

// table prints median (min..max) per runtime and metric, and berth's ratio
// of medians to each peer.
func table(rts []*runtime, metrics []metric, samples map[string][]sample) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprint(w, "  metric")
	for _, r := range rts {
		fmt.Fprintf(w, "\t%s median (min..max)", r.name)
	}
	for _, r := range rts[1:] {
		fmt.Fprintf(w, "\tberth/%s", r.name)
	}
	fmt.Fprintln(w)
	for _, m := range metrics {
		fmt.Fprintf(w, "  %s", m.name)
		med := map[string]float64{}
		for _, r := range rts {
			var xs []float64
			for _, s := range samples[r.name] {
				xs = append(xs, m.get(s))
			}
			st := summarize(xs)
			med[r.name] = st.median
			fmt.Fprintf(w, "\t%.2f (%.2f..%.2f)", st.median, st.min, st.max)
		}
		for _, r := range rts[1:] {
			fmt.Fprintf(w, "\t%.2f", med["berth"]/med[r.name])
		}
		fmt.Fprintln(w)
	}
	w.Flush()
}
