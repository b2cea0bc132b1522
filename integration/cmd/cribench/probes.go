package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-oci/berth/integration/crienv"
	"github.com/berth-oci/berth/integration/hoststate"
)

// probeResult is one handler's exec probe series.
type probeResult struct {
	probes   int
	cpuMs    float64   // the shim daemons' CPU over the series
	selfMs   float64   // of which the daemons' own (the rest: their reaped children's)
	wallMs   []float64 // each probe's crictl exec --sync
	failures int
}

// probes is section 7d: pods of one busybox container, each probed with
// ExecSync of `true` (crictl exec --sync) once a second for seconds, all
// pods' probes of a round at once, as the kubelet's exec probes do. The CPU
// counted is the shim daemons': user and system time, with that of their
// reaped children (runc and its init under the runc shim; the exec's init
// under berth's; the probe's own process under both), read from
// /proc/<pid>/stat before and after.
func (b *bench) probes(handler string, pods, seconds int) (probeResult, error) {
	var res probeResult
	ids, _, err := b.parallel(pods, 10, func(int) (string, float64, error) { return b.startPod(handler) })
	defer func() {
		_, _, _ = b.parallel(len(ids), 10, func(i int) (string, float64, error) {
			d, err := b.stopPod(ids[i])
			return "", d, err
		})
	}()
	if err != nil {
		return res, err
	}
	ctrs := make([]string, len(ids))
	for i, id := range ids {
		if ctrs[i], err = b.crictlRun("ps", "-q", "--pod", id); err != nil || ctrs[i] == "" {
			return res, fmt.Errorf("container of pod %s: %q, %v", id, ctrs[i], err)
		}
	}
	shim := shimBinary(handler)
	pids := hoststate.ShimPids(shim, b.env.Socket)
	beforeSelf, beforeChildren := cpuTicks(pids)
	var mu sync.Mutex
	start := time.Now()
	for round := 0; round < seconds; round++ {
		var wg sync.WaitGroup
		for _, c := range ctrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t0 := time.Now()
				_, err := b.crictlRun("exec", "--sync", "--timeout", "10", c, "true")
				d := ms(time.Since(t0))
				mu.Lock()
				defer mu.Unlock()
				res.probes++
				res.wallMs = append(res.wallMs, d)
				if err != nil {
					res.failures++
				}
			}()
		}
		wg.Wait()
		time.Sleep(time.Until(start.Add(time.Duration(round+1) * time.Second)))
	}
	afterSelf, afterChildren := cpuTicks(pids)
	res.selfMs = float64(afterSelf-beforeSelf) * 1000 / clockTicks
	res.cpuMs = res.selfMs + float64(afterChildren-beforeChildren)*1000/clockTicks
	return res, nil
}

// shimBinary is the shim daemon's binary name under a handler.
func shimBinary(handler string) string {
	if handler == crienv.HandlerRunc {
		return "containerd-shim-runc-v2"
	}
	return "containerd-shim-berth-v2"
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat times.
const clockTicks = 100

// cpuTicks sums the processes' own CPU (utime, stime) and that of their
// reaped children (cutime, cstime).
func cpuTicks(pids []int) (self, children int64) {
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis: state is the
		// first (field 3); utime is field 14.
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 15 {
			continue
		}
		for i := 11; i <= 14; i++ { // utime, stime, cutime, cstime
			v, _ := strconv.ParseInt(f[i], 10, 64)
			if i < 13 {
				self += v
			} else {
				children += v
			}
		}
	}
	return self, children
}

// probeTable prints section 7d.
func probeTable(handlers []string, results map[string]probeResult) {
	fmt.Printf("  %-18s %7s %9s %14s %14s %16s %14s\n", "runtime", "probes", "failures", "shim CPU ms", "CPU ms/probe", "of it, daemon's", "wall ms p50")
	for _, h := range handlers {
		r := results[h]
		per, self := 0.0, 0.0
		if r.probes > 0 {
			per, self = r.cpuMs/float64(r.probes), r.selfMs/float64(r.probes)
		}
		fmt.Printf("  %-18s %7d %9d %14.0f %14.2f %16.2f %14.1f\n", h, r.probes, r.failures, r.cpuMs, per, self, percentile(r.wallMs, 50))
	}
	r := results[crienv.HandlerRunc]
	for _, h := range handlers[1:] {
		b := results[h]
		if r.cpuMs > 0 && b.probes > 0 && r.probes > 0 {
			fmt.Printf("  %s/runc: CPU per probe %.2f, wall p50 %.2f\n", h,
				(b.cpuMs/float64(b.probes))/(r.cpuMs/float64(r.probes)), percentile(b.wallMs, 50)/percentile(r.wallMs, 50))
		}
	}
}
