package integration

import (
	"strings"
	"testing"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// processRlimits are the limits of runtime-tools' process_rlimits program
// (hard, soft), RLIMIT_AS among them at a soft 1 GiB.
func processRlimits(s *specs.Spec) {
	const gib = 1 << 30
	s.Process.Rlimits = []specs.POSIXRlimit{
		{Type: "RLIMIT_AS", Hard: 2 * gib, Soft: 1 * gib},
		{Type: "RLIMIT_CORE", Hard: 4 * gib, Soft: 3 * gib},
		{Type: "RLIMIT_DATA", Hard: 6 * gib, Soft: 5 * gib},
		{Type: "RLIMIT_FSIZE", Hard: 8 * gib, Soft: 7 * gib},
		{Type: "RLIMIT_STACK", Hard: 10 * gib, Soft: 9 * gib},
		{Type: "RLIMIT_CPU", Hard: 120, Soft: 60},
		{Type: "RLIMIT_NOFILE", Hard: 4000, Soft: 3000},
	}
}

// TestRlimitsOfProcessRlimitsSpec: the container's process gets exactly
// the soft and hard limits of runtime-tools' process_rlimits spec, and
// berth runs that spec with its seccomp profile although RLIMIT_AS is 1
// GiB: the profile is compiled before the init, which runc v1.5.2's init
// cannot do under that limit here (it runs out of memory).
//
// runtime-tools reports a soft RLIMIT_NOFILE of 3999 for that program with
// any runtime: its runtimetest is a Go program, and Go raises its own soft
// RLIMIT_NOFILE to the hard limit less one when it starts (syscall's
// rlimit.go). A shell, as here, sees what the runtime set.
func TestRlimitsOfProcessRlimitsSpec(t *testing.T) {
	t.Parallel()
	script := `ulimit -Sn; ulimit -Hn; ulimit -Sv; ulimit -Hv; ulimit -St; grep Seccomp: /proc/self/status | tr -d '\t'`
	bundle := newBundle(t, processRlimits, spec.WithArgs("sh", "-c", script))
	want := "3000\n4000\n1048576\n2097152\n60\nSeccomp:2"
	for name, c := range sideBySide(t) {
		r := c.run(nil, "run", "--bundle", bundle, uniqueID(t))
		got := strings.TrimSpace(r.Stdout)
		t.Logf("%s: exit %d, stdout %q, stderr %q", name, r.Code, got, lastLine(r.Stderr))
		if name == "berth" && (berth.SeccompPrecompiled || r.Code == 0) && (r.Code != 0 || got != want) {
			t.Errorf("berth: exit %d, limits %q, want %q; stderr %s", r.Code, got, want, r.Stderr)
		}
		if name == "runc" && r.Code == 0 && got != want {
			t.Errorf("runc ran the spec with limits %q, want %q", got, want)
		}
	}
}
