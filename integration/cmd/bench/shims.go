package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/integration/hoststate"
)

// shimRuntime is a containerd runtime under test.
type shimRuntime struct {
	name    string
	runtime string   // containerd runtime type
	opts    []string // extra `ctr run` flags
	binary  string   // shim binary name, to find its processes
}

func shimRuntimes(runcBin string) ([]shimRuntime, error) {
	runcAbs, err := filepath.Abs(runcBin)
	if err != nil {
		return nil, err
	}
	return []shimRuntime{
		{"berth", "io.containerd.berth.v2", nil, "containerd-shim-berth-v2"},
		{"runc", "io.containerd.runc.v2", []string{"--runc-binary", runcAbs}, "containerd-shim-runc-v2"},
	}, nil
}

func (r shimRuntime) runArgs(extra ...string) []string {
	args := append([]string{"run", "--runtime", r.runtime}, r.opts...)
	return append(args, extra...)
}

// names gives table() the runtimes in order, berth first.
func names(rts []shimRuntime) []*runtime {
	var out []*runtime
	for _, r := range rts {
		out = append(out, &runtime{name: r.name})
	}
	return out
}

// benchShims is section 4: `ctr run --rm` of /bin/true and `ctr task exec`
// through each shim.
func benchShims(d *daemon, rts []shimRuntime, n int) error {
	fmt.Println("\n4. through containerd 1.6: ctr run --rm of /bin/true, and ctr task exec of /bin/true")
	runRm := func(round string) (map[string][]sample, error) {
		runs := map[string][]sample{}
		for i := range n {
			for _, r := range rts {
				s, err := measure(d.ctrCmd(r.runArgs("--rm", busybox.ImageName, fmt.Sprintf("run-%s-%s-%d", round, r.name, i), "/bin/true")...))
				if err != nil {
					return nil, err
				}
				runs[r.name] = append(runs[r.name], s)
			}
		}
		return runs, nil
	}
	runs, err := runRm("cold")
	if err != nil {
		return err
	}
	fmt.Println("  ctr run --rm, the only container of its namespace (berth starts a shim daemon for it, as runc's shim does)")
	table(names(rts), []metric{wallMs}, runs)

	for _, r := range rts {
		if err := d.ctr(r.runArgs("-d", "--null-io", busybox.ImageName, "sleeper-"+r.name, "sleep", "1000")...); err != nil {
			return err
		}
	}
	if runs, err = runRm("warm"); err != nil {
		return err
	}
	fmt.Println("  ctr run --rm while the namespace has a running container (berth's namespace daemon is up; runc's shim still starts one per container)")
	table(names(rts), []metric{wallMs}, runs)

	execs := map[string][]sample{}
	for i := range n {
		for _, r := range rts {
			s, err := measure(d.ctrCmd("task", "exec", "--exec-id", fmt.Sprintf("e%d", i), "sleeper-"+r.name, "/bin/true"))
			if err != nil {
				return err
			}
			execs[r.name] = append(execs[r.name], s)
		}
	}
	fmt.Println("  ctr task exec")
	table(names(rts), []metric{wallMs}, execs)
	d.removeAll()
	return nil
}

// benchShimsSeccomp is section 4s: section 4's warm `ctr run --rm` and
// `ctr task exec`, with containerd's default seccomp profile, through
// berth's shim, berth's shim on upstream libcontainer (compiling) when
// given, and runc's.
func benchShimsSeccomp(d *daemon, rts []shimRuntime, compiling string, n int) error {
	fmt.Println("\n4s. through containerd 1.6, with containerd's default seccomp profile (ctr run --seccomp): warm ctr run --rm of /bin/true, and ctr task exec of /bin/true")
	if compiling != "" {
		fmt.Println("  berth-compiling: berth's shim on upstream libcontainer (every init and exec'd process compiles the profile), its own daemon")
		c := rts[0]
		c.name, c.runtime = "berth-compiling", compiling
		c.opts = append(append([]string{}, c.opts...), "--annotation", "io.containerd.runc.v2.group=berth-compiling")
		rts = append([]shimRuntime{rts[0], c}, rts[1:]...)
	}
	for _, r := range rts {
		if err := d.ctr(r.runArgs("-d", "--null-io", "--seccomp", busybox.ImageName, "sleeper-"+r.name, "sleep", "1000")...); err != nil {
			return err
		}
	}
	defer d.removeAll()
	runs, execs := map[string][]sample{}, map[string][]sample{}
	for i := range n {
		for _, r := range rts {
			s, err := measure(d.ctrCmd(r.runArgs("--rm", "--seccomp", busybox.ImageName, fmt.Sprintf("run-seccomp-%s-%d", r.name, i), "/bin/true")...))
			if err != nil {
				return err
			}
			runs[r.name] = append(runs[r.name], s)
			if s, err = measure(d.ctrCmd("task", "exec", "--exec-id", fmt.Sprintf("s%d", i), "sleeper-"+r.name, "/bin/true")); err != nil {
				return err
			}
			execs[r.name] = append(execs[r.name], s)
		}
	}
	fmt.Println("  ctr run --rm --seccomp, while the namespace has a running container")
	table(names(rts), []metric{wallMs}, runs)
	fmt.Println("  ctr task exec into a container with the profile")
	table(names(rts), []metric{wallMs}, execs)
	return nil
}

// densityResult is one runtime's section 5 figures.
type densityResult struct {
	start       time.Duration
	failures    int64
	shims       int
	pssKiB      int64
	memDeltaKiB int64
}

// benchDensity is section 5: count sleeping containers per runtime, started
// at concurrency 10; shim PSS and host MemAvailable delta per container.
func benchDensity(d *daemon, rts []shimRuntime, count int) error {
	fmt.Printf("\n5. density through containerd 1.6: %d sleeping containers per runtime, started 10 at a time\n", count)
	fmt.Println("  berth: one shim daemon per namespace (its default); berth-per-ctr: annotation io.containerd.berth.v2.shim=per-container")
	perCtr := rts[0]
	perCtr.name = "berth-per-ctr"
	perCtr.opts = append(append([]string{}, perCtr.opts...), "--annotation", "io.containerd.berth.v2.shim=per-container")
	rts = append(rts, perCtr)
	// A warm-up round per runtime, unmeasured, so containerd's own growth
	// and the kernel's caches do not land on whichever runtime goes first.
	for _, r := range rts {
		if _, err := density(d, r, min(count, 10)); err != nil {
			return err
		}
	}
	results := map[string]densityResult{}
	for _, r := range rts {
		res, err := density(d, r, count)
		if err != nil {
			return err
		}
		results[r.name] = res
	}
	fmt.Printf("  %-14s %14s %9s %6s %20s %24s\n", "runtime", "start all (s)", "failures", "shims", "shim PSS/ctr (KiB)", "host mem delta/ctr (KiB)")
	for _, r := range rts {
		res := results[r.name]
		fmt.Printf("  %-14s %14.2f %9d %6d %20d %24d\n", r.name, res.start.Seconds(), res.failures, res.shims,
			res.pssKiB/int64(count), res.memDeltaKiB/int64(count))
	}
	if count < 50 {
		fmt.Println("  (with this few containers the host memory delta is dominated by noise)")
	}
	p := results["runc"]
	var failures int64
	for _, name := range []string{"berth", "berth-per-ctr"} {
		b := results[name]
		fmt.Printf("  %s/runc: start %.2f, shim PSS %.2f, host memory %.2f\n", name,
			b.start.Seconds()/p.start.Seconds(), float64(b.pssKiB)/float64(p.pssKiB), float64(b.memDeltaKiB)/float64(p.memDeltaKiB))
	}
	for _, r := range rts {
		failures += results[r.name].failures
	}
	if failures > 0 {
		return fmt.Errorf("density: %d containers failed to start", failures)
	}
	return nil
}

func density(d *daemon, r shimRuntime, count int) (densityResult, error) {
	var res densityResult
	// Daemons of the runtime's earlier containers must have gone, or their
	// memory lands on this series: wait, and say so if they stay.
	if left, waited := hoststate.WaitShimsGone(r.binary, d.sock, 40*time.Second); len(left) > 0 || waited > time.Second {
		fmt.Printf("  (%s: %d earlier shim daemons still running after %s)\n", r.name, len(left), waited.Round(100*time.Millisecond))
	}
	before, err := hoststate.SettledMemAvailableKiB()
	if err != nil {
		return res, err
	}
	var failures atomic.Int64
	var firstErr error
	var once sync.Once
	start := time.Now()
	parallel(count, 10, func(i int) error {
		err := d.ctr(r.runArgs("-d", "--null-io", busybox.ImageName, fmt.Sprintf("dense-%s-%d", r.name, i), "sleep", "1000")...)
		if err != nil {
			failures.Add(1)
			once.Do(func() { firstErr = err })
		}
		return err
	})
	res.start = time.Since(start)
	res.failures = failures.Load()
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "bench: density %s: first failure: %v\n", r.name, firstErr)
	}
	time.Sleep(2 * time.Second) // let shims settle after their last request
	pids := d.shimPids(r.binary)
	res.shims = len(pids)
	if res.pssKiB, err = hoststate.PssKiB(pids); err != nil {
		return res, err
	}
	after, err := hoststate.SettledMemAvailableKiB()
	if err != nil {
		return res, err
	}
	res.memDeltaKiB = before - after
	d.removeAll()
	return res, nil
}

// parallel runs f(0..n-1) on at most workers goroutines.
func parallel(n, workers int, f func(i int) error) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				_ = f(i)
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}
