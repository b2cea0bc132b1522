// Command conformance runs the OCI runtime-tools validation suite against
// berth and, in the same run, against runc, prints a table of both results
// per program, and exits 1 if berth fails any test point that runc passes.
//
//	conformance -validation DIR -work DIR -berth BIN -runc BIN [-out DIR]
//
// DIR of -validation holds the suite's 58 programs; -work holds runtimetest
// and rootfs-amd64.tar.gz (the programs find them by relative path). Each
// runtime runs through a wrapper that pins a private --root, so whatever
// the suite leaves behind is found and removed afterwards.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/berth-oci/berth/integration/hoststate"
)

func main() {
	validation := flag.String("validation", "", "directory of the validation programs")
	work := flag.String("work", "", "directory with runtimetest and rootfs-amd64.tar.gz")
	berth := flag.String("berth", "", "berth binary")
	runc := flag.String("runc", "", "runc binary")
	out := flag.String("out", "", "directory for the raw TAP output (default: a temporary one)")
	timeout := flag.Duration("timeout", 60*time.Second, "time limit per program")
	only := flag.String("run", "", "regexp selecting programs")
	flag.Parse()
	if *validation == "" || *work == "" || *berth == "" || *runc == "" {
		flag.Usage()
		os.Exit(2)
	}
	code, err := run(*validation, *work, *berth, *runc, *out, *only, *timeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

// runtime is one runtime under test, behind a wrapper with its own root.
type runtime struct {
	name, bin, root, wrapper string
}

func newRuntime(name, bin, dir string) (*runtime, error) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	r := &runtime{name: name, bin: abs, root: filepath.Join(dir, name+"-root"), wrapper: filepath.Join(dir, name)}
	script := fmt.Sprintf("#!/bin/sh\nexec %q --root %q \"$@\"\n", r.bin, r.root)
	return r, os.WriteFile(r.wrapper, []byte(script), 0o755)
}

// cleanup force-deletes whatever the suite left in the runtime's root.
func (r *runtime) cleanup() {
	entries, _ := os.ReadDir(r.root)
	for _, e := range entries {
		_ = exec.Command(r.bin, "--root", r.root, "delete", "--force", e.Name()).Run()
	}
}

// result is one program's outcome for one runtime.
type result struct {
	ok, notOK, skip int
	points          map[int]bool // test point -> passed
	planZero        bool         // "1..0" with an error: the program gave up
	err             string       // how it failed, if it did
	startErr        error        // the program could not be run at all
}

func (r result) passed() bool {
	return r.err == "" && r.notOK == 0 && !r.planZero
}

func (r result) summary() string {
	switch {
	case r.err != "":
		return "not-ok (" + r.err + ")"
	case r.planZero:
		return "not-ok (gave up: 1..0 and an error)"
	case r.notOK > 0:
		return fmt.Sprintf("not-ok (%d/%d)", r.ok, r.ok+r.notOK)
	case r.ok == 0:
		return "ok (no points)"
	}
	return fmt.Sprintf("ok (%d/%d)", r.ok, r.ok)
}

var tapLine = regexp.MustCompile(`^(not ok|ok) (\d+)`)

func parseTAP(data []byte) result {
	res := result{points: map[int]bool{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "1..0" && bytes.Contains(data, []byte(`"error"`)) {
			// An empty plan alone is a program (or a second TAP stream)
			// with no assertions; with an error block it gave up.
			res.planZero = true
		}
		m := tapLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		pass := m[1] == "ok"
		res.points[n] = pass
		if pass {
			res.ok++
			if strings.Contains(line, "# SKIP") {
				res.skip++
			}
		} else {
			res.notOK++
		}
	}
	return res
}

func runProgram(prog, work string, rt *runtime, timeout time.Duration, outDir string) result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// The programs unpack bundles under $TMPDIR; some leave mounts there
	// (rootfs propagation "shared" shows container mounts on the host).
	tmp, err := os.MkdirTemp("", "conformance-tmp")
	if err != nil {
		return result{err: err.Error(), startErr: err}
	}
	defer removeWithMounts(tmp)
	// As open as /tmp: containers with user namespaces must reach their
	// rootfs through it.
	if err := os.Chmod(tmp, 0o1777); err != nil {
		return result{err: err.Error(), startErr: err}
	}
	cmd := exec.CommandContext(ctx, prog)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "RUNTIME="+rt.wrapper, "TMPDIR="+tmp)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	rt.cleanup()
	_ = os.WriteFile(filepath.Join(outDir, filepath.Base(prog)+"."+rt.name+".tap"), out, 0o644)
	res := parseTAP(out)
	switch {
	case ctx.Err() != nil:
		res.err = "timeout"
	case err != nil:
		res.err = err.Error()
		if _, ok := err.(*exec.ExitError); !ok {
			res.startErr = err
		}
	}
	return res
}

// removeWithMounts unmounts everything mounted under dir, deepest first,
// then removes it.
func removeWithMounts(dir string) {
	for range 3 {
		mounts := hoststate.MountsUnder(dir)
		if len(mounts) == 0 {
			break
		}
		sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
		for _, m := range mounts {
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
	}
	_ = os.RemoveAll(dir)
}

func run(validation, work, berthBin, runcBin, outDir, only string, timeout time.Duration) (int, error) {
	var err error
	keep := outDir != ""
	if outDir == "" {
		if outDir, err = os.MkdirTemp("", "conformance"); err != nil {
			return 0, err
		}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return 0, err
	}
	if validation, err = filepath.Abs(validation); err != nil {
		return 0, err
	}
	if work, err = filepath.Abs(work); err != nil {
		return 0, err
	}
	wrappers, err := os.MkdirTemp("", "conformance-runtimes")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(wrappers)
	berth, err := newRuntime("berth", berthBin, wrappers)
	if err != nil {
		return 0, err
	}
	runc, err := newRuntime("runc", runcBin, wrappers)
	if err != nil {
		return 0, err
	}
	var filter *regexp.Regexp
	if only != "" {
		if filter, err = regexp.Compile(only); err != nil {
			return 0, err
		}
	}
	entries, err := os.ReadDir(validation)
	if err != nil {
		return 0, err
	}
	var programs []string
	for _, e := range entries {
		if !e.IsDir() && (filter == nil || filter.MatchString(e.Name())) {
			programs = append(programs, e.Name())
		}
	}
	sort.Strings(programs)
	// The cgroup programs use linux.cgroupsPath testdir/cgrouptest/container;
	// the runtimes remove only the container's own cgroup.
	defer func() {
		for _, rel := range []string{"testdir/cgrouptest", "testdir"} {
			if err := hoststate.RemoveCgroup(rel); err != nil {
				fmt.Fprintln(os.Stderr, "conformance: cgroups left behind:", err)
			}
		}
	}()

	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROGRAM\tBERTH\tRUNC\tREGRESSION")
	var berthPass, runcPass, regressions, berthPoints, runcPoints int
	var regressed []string
	for _, p := range programs {
		prog := filepath.Join(validation, p)
		b := runProgram(prog, work, berth, timeout, outDir)
		r := runProgram(prog, work, runc, timeout, outDir)
		for _, res := range []result{b, r} {
			if res.startErr != nil {
				return 0, fmt.Errorf("run %s: %w", p, res.startErr)
			}
		}
		berthPoints += b.ok
		runcPoints += r.ok
		if b.passed() {
			berthPass++
		}
		if r.passed() {
			runcPass++
		}
		var lost []string
		for n, ok := range r.points {
			if ok && !b.points[n] {
				lost = append(lost, "#"+strconv.Itoa(n))
			}
		}
		sort.Strings(lost)
		note := ""
		if len(lost) > 0 || (r.passed() && !b.passed()) {
			regressions++
			regressed = append(regressed, p)
			note = "REGRESSION"
			if len(lost) > 0 {
				note += " " + strings.Join(lost, ",")
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p, b.summary(), r.summary(), note)
		w.Flush()
	}
	w.Flush()
	fmt.Printf("\nprograms passing: berth %d/%d, runc %d/%d; test points ok: berth %d, runc %d\n",
		berthPass, len(programs), runcPass, len(programs), berthPoints, runcPoints)
	if regressions > 0 {
		fmt.Printf("raw TAP output: %s\n", outDir)
		fmt.Printf("berth fails test points that runc passes in %d program(s): %s\n", regressions, strings.Join(regressed, " "))
		return 1, nil
	}
	if keep {
		fmt.Printf("raw TAP output: %s\n", outDir)
	} else {
		os.RemoveAll(outDir) // kept only when there is a regression to inspect
	}
	fmt.Println("berth passes every test point that runc passes")
	return 0, nil
}
