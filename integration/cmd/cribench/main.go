// Command cribench is section 7 of make bench: Kubernetes pod starts and
// density through containerd 2.2.1's CRI, with containerd's runc shim
// (running runc v1.5.2) and with berth (containerd-shim-berth-v2 as the
// runtime_path of the runc runtime type), side by side in one run.
//
//   - pod start: RunPodSandbox, CreateContainer and StartContainer of a
//     busybox container (crictl runp, create, start), timed together, for
//     N pods one at a time (the runtimes interleaved pod by pod) and N
//     pods 10 at a time; then stop and remove (crictl stopp, rmp);
//   - density: D running pods of one container each, with the shims' PSS
//     and the host's MemAvailable drop per pod (page cache and reclaimable
//     slab dropped before each reading);
//   - a third series, berth-shared-pods: berth's shim started with
//     BERTH_SHIM_POD_DAEMON=shared, one daemon for every pod;
//   - exec probes: P pods each probed with ExecSync of `true` once a
//     second for S seconds, with the shims' CPU per probe (probes.go).
//
// Pods and containers ask for the RuntimeDefault seccomp profile
// (seccompProfile: RuntimeDefault, as the restricted Pod Security Standard
// requires), so every container's init loads containerd's default profile.
// Times include crictl's own start (a Go binary, the same for both).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/berth-oci/berth/integration/crienv"
	"github.com/berth-oci/berth/integration/hoststate"
)

const busyboxImage = "registry.k8s.io/e2e-test-images/busybox:1.29-2"

type bench struct {
	env    *crienv.Env
	crictl string
	dir    string
	seq    int
	mu     sync.Mutex
}

func main() {
	var cfg crienv.Config
	flag.StringVar(&cfg.Containerd, "containerd", "", "containerd 2.x binary")
	shimRunc := flag.String("shim-runc", "", "its containerd-shim-runc-v2")
	flag.StringVar(&cfg.Runc, "runc", "", "runc for the runc shim")
	flag.StringVar(&cfg.BerthShim, "berth-shim", "", "containerd-shim-berth-v2")
	flag.StringVar(&cfg.Crane, "crane", "", "crane, to serve the images")
	flag.StringVar(&cfg.CNIBinDir, "cni", "/usr/lib/cni", "CNI plugins")
	flag.StringVar(&cfg.GoBin, "go", "go", "go, to build the images' programs")
	flag.StringVar(&cfg.BusyboxRoot, "busybox-root", "", "Debian's dynamic busybox unpacked")
	crictl := flag.String("crictl", "", "crictl")
	n := flag.Int("n", 50, "pods per start series")
	density := flag.Int("density", 100, "running pods per runtime for density")
	probePods := flag.Int("probe-pods", 20, "pods probed in the exec probe series")
	probeSeconds := flag.Int("probe-seconds", 60, "seconds of exec probes, one per pod per second")
	flag.Parse()
	// containerd runs the shims and runc from its own directory.
	for _, p := range []*string{&cfg.Containerd, shimRunc, &cfg.Runc, &cfg.BerthShim, &cfg.Crane, &cfg.CNIBinDir, &cfg.BusyboxRoot, crictl} {
		if abs, err := filepath.Abs(*p); err == nil {
			*p = abs
		}
	}
	cfg.ShimDir = filepath.Dir(*shimRunc)
	cfg.ConfigVersion = 3
	if err := run(cfg, *crictl, *n, *density, *probePods, *probeSeconds); err != nil {
		fmt.Fprintln(os.Stderr, "cribench:", err)
		os.Exit(1)
	}
}

func run(cfg crienv.Config, crictl string, n, density, probePods, probeSeconds int) (err error) {
	dir, err := os.MkdirTemp("", "berth-cribench")
	if err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	cfg.Dir = dir
	ctx := context.Background()
	e, err := crienv.Start(ctx, cfg)
	defer func() {
		rerr := e.RemoveAllPods(ctx, crictl)
		cerr := e.Close()
		if m := hoststate.MountsUnder(dir); len(m) == 0 {
			_ = os.RemoveAll(dir)
		}
		if err == nil && rerr != nil {
			err = rerr
		}
		if err == nil {
			err = cerr
		}
	}()
	if err != nil {
		return fmt.Errorf("CRI environment: %w\n%s", err, e.Log())
	}
	b := &bench{env: e, crictl: crictl, dir: dir}
	if _, err := b.crictlRun("pull", busyboxImage); err != nil {
		return err
	}
	handlers := []string{crienv.HandlerRunc, crienv.HandlerBerth, crienv.HandlerBerthSharedPods, crienv.HandlerBerthSandbox}
	fmt.Printf("7. Kubernetes pods through containerd 2.2.1's CRI (crictl), %s\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Printf("   runc: containerd-shim-runc-v2 with runc v1.5.2; berth: containerd-shim-berth-v2 as runtime_path, a daemon per pod;\n")
	fmt.Printf("   %s: the same with BERTH_SHIM_POD_DAEMON=shared, one daemon for every pod of the namespace\n", crienv.HandlerBerthSharedPods)
	fmt.Printf("   %s: berth's runtime type with sandboxer = \"shim\": no pause container, a daemon per pod (its holder process counted with it)\n", crienv.HandlerBerthSandbox)

	// One at a time, the runtimes interleaved pod by pod.
	starts, stops := map[string][]float64{}, map[string][]float64{}
	pods := map[string][]string{}
	for i := 0; i < n; i++ {
		for _, h := range handlers {
			id, d, err := b.startPod(h)
			if err != nil {
				return err
			}
			starts[h] = append(starts[h], d)
			pods[h] = append(pods[h], id)
		}
	}
	for i := 0; i < n; i++ {
		for _, h := range handlers {
			d, err := b.stopPod(pods[h][i])
			if err != nil {
				return err
			}
			stops[h] = append(stops[h], d)
		}
	}
	fmt.Printf("\n7a. %d pods one at a time\n", n)
	table(handlers, map[string]map[string][]float64{"start ms": starts, "stop+remove ms": stops})

	// 10 at a time, one runtime after the other.
	pstarts, pstops := map[string][]float64{}, map[string][]float64{}
	for _, h := range handlers {
		ids, ds, err := b.parallel(n, 10, func(int) (string, float64, error) { return b.startPod(h) })
		if err != nil {
			return err
		}
		pstarts[h] = ds
		_, ds, err = b.parallel(len(ids), 10, func(i int) (string, float64, error) {
			d, err := b.stopPod(ids[i])
			return "", d, err
		})
		if err != nil {
			return err
		}
		pstops[h] = ds
	}
	fmt.Printf("\n7b. %d pods 10 at a time\n", n)
	table(handlers, map[string]map[string][]float64{"start ms": pstarts, "stop+remove ms": pstops})

	// Density.
	fmt.Printf("\n7c. density: %d running pods of one busybox container\n", density)
	fmt.Printf("  %-18s %18s %22s %6s\n", "runtime", "shim PSS/pod KiB", "MemAvailable/pod KiB", "shims")
	perPod := map[string][2]float64{}
	for _, h := range handlers {
		shim := shimBinary(h)
		// The daemons of the series before have gone with their pods, or
		// their memory lands on this series: wait, and say so if they stay.
		if left, waited := hoststate.WaitShimsGone(shim, e.Socket, 40*time.Second); len(left) > 0 || waited > time.Second {
			fmt.Printf("  (%s: %d earlier shim daemons still running after %s)\n", h, len(left), waited.Round(100*time.Millisecond))
		}
		before, err := hoststate.SettledMemAvailableKiB()
		if err != nil {
			return err
		}
		ids, _, err := b.parallel(density, 10, func(int) (string, float64, error) { return b.startPod(h) })
		if err != nil {
			return err
		}
		time.Sleep(3 * time.Second) // let the shims settle
		pids := hoststate.ShimPids(shim, e.Socket)
		shims := len(pids)
		// The pod holders (pods without a pause container) count with
		// their daemons.
		isShim := map[int]bool{}
		for _, p := range pids {
			isShim[p] = true
		}
		for pid, ppid := range hoststate.ProcessesNamed(hoststate.PodHolderName) {
			if isShim[ppid] {
				pids = append(pids, pid)
			}
		}
		pss, err := hoststate.PssKiB(pids)
		if err != nil {
			return err
		}
		after, err := hoststate.SettledMemAvailableKiB()
		if err != nil {
			return err
		}
		perPod[h] = [2]float64{float64(pss) / float64(density), float64(before-after) / float64(density)}
		fmt.Printf("  %-18s %18.0f %22.0f %6d\n", h, perPod[h][0], perPod[h][1], shims)
		if _, _, err := b.parallel(len(ids), 10, func(i int) (string, float64, error) {
			d, err := b.stopPod(ids[i])
			return "", d, err
		}); err != nil {
			return err
		}
	}
	r := perPod[crienv.HandlerRunc]
	for _, h := range handlers[1:] {
		bt := perPod[h]
		fmt.Printf("  %s/runc: shim PSS %.2f, host memory %.2f\n", h, bt[0]/r[0], bt[1]/r[1])
	}

	// Exec probes, a daemon per pod under both.
	probeHandlers := []string{crienv.HandlerRunc, crienv.HandlerBerth}
	fmt.Printf("\n7d. exec probes: %d pods, each probed with ExecSync of true once a second for %d s\n", probePods, probeSeconds)
	fmt.Printf("   (CPU: the shim daemons' user+system time with their reaped children's: runc and its init, or the exec's init)\n")
	probeResults := map[string]probeResult{}
	for _, h := range probeHandlers {
		res, err := b.probes(h, probePods, probeSeconds)
		if err != nil {
			return fmt.Errorf("exec probes, %s: %w", h, err)
		}
		probeResults[h] = res
	}
	probeTable(probeHandlers, probeResults)
	return nil
}

// crictlRun runs crictl with a deadline.
func (b *bench) crictlRun(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := b.env.Crictl(ctx, b.crictl, args...)
	return strings.TrimSpace(string(out)), err
}

// startPod runs a pod of the handler with one busybox container and
// returns the pod's id and how long runp, create and start took.
func (b *bench) startPod(handler string) (string, float64, error) {
	b.mu.Lock()
	b.seq++
	name := fmt.Sprintf("bench-%d", b.seq)
	b.mu.Unlock()
	pod := filepath.Join(b.dir, name+"-pod.json")
	ctr := filepath.Join(b.dir, name+"-ctr.json")
	if err := os.WriteFile(pod, fmt.Appendf(nil, `{"metadata": {"name": %q, "namespace": "default", "uid": "%s-uid"}, "linux": {"security_context": {"seccomp": {"profile_type": 0}}}}`, name, name), 0o644); err != nil {
		return "", 0, err
	}
	if err := os.WriteFile(ctr, fmt.Appendf(nil, `{"metadata": {"name": "c"}, "image": {"image": %q}, "command": ["sleep", "100000"], "linux": {"security_context": {"seccomp": {"profile_type": 0}}}}`, busyboxImage), 0o644); err != nil {
		return "", 0, err
	}
	start := time.Now()
	podID, err := b.crictlRun("runp", "--runtime", handler, pod)
	if err != nil {
		return "", 0, err
	}
	ctrID, err := b.crictlRun("create", podID, ctr, pod)
	if err != nil {
		return podID, 0, err
	}
	if _, err := b.crictlRun("start", ctrID); err != nil {
		return podID, 0, err
	}
	return podID, ms(time.Since(start)), nil
}

// stopPod stops and removes a pod and returns how long that took.
func (b *bench) stopPod(id string) (float64, error) {
	start := time.Now()
	if _, err := b.crictlRun("stopp", id); err != nil {
		return 0, err
	}
	if _, err := b.crictlRun("rmp", id); err != nil {
		return 0, err
	}
	return ms(time.Since(start)), nil
}

// parallel runs f for 0..n-1, width at a time, and returns the ids and
// times it gave, in order.
func (b *bench) parallel(n, width int, f func(i int) (string, float64, error)) ([]string, []float64, error) {
	ids, ds := make([]string, n), make([]float64, n)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range width {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ids[i], ds[i], errs[i] = f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return ids, ds, err
		}
	}
	return ids, ds, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// table prints the median and p95 of each metric per handler (runc's
// first), and each other handler's ratio to runc's.
func table(handlers []string, metrics map[string]map[string][]float64) {
	names := []string{"start ms", "stop+remove ms"}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprint(w, "  metric")
	for _, h := range handlers {
		fmt.Fprintf(w, "\t%s p50\tp95", h)
	}
	for _, h := range handlers[1:] {
		fmt.Fprintf(w, "\t%s/runc p50, p95", h)
	}
	fmt.Fprintln(w)
	for _, name := range names {
		fmt.Fprintf(w, "  %s", name)
		p := map[string][2]float64{}
		for _, h := range handlers {
			p[h] = [2]float64{percentile(metrics[name][h], 50), percentile(metrics[name][h], 95)}
			fmt.Fprintf(w, "\t%.1f\t%.1f", p[h][0], p[h][1])
		}
		r := p[crienv.HandlerRunc]
		for _, h := range handlers[1:] {
			fmt.Fprintf(w, "\t%.2f, %.2f", p[h][0]/r[0], p[h][1]/r[1])
		}
		fmt.Fprintln(w)
	}
	w.Flush()
}

// percentile is the nearest-rank percentile of xs.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}
