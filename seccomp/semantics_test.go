package seccomp

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	lcseccomp "github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-oci/berth/internal/testutil"
)

// probeEnv, when set in the environment, makes the test binary a probe:
// it installs the profile in that file exactly as a container's init does
// (runc's conversion and filter build, which berth's init runs too), makes
// setns(-1, 0) and prints the errno it got. Allowed, the kernel answers
// EBADF; refused by a rule or the default action, the filter's errno.
const probeEnv = "BERTH_SECCOMP_PROBE"

func TestMain(m *testing.M) {
	if file := os.Getenv(probeEnv); file != "" {
		if err := probe(file); err != nil {
			fmt.Fprintln(os.Stderr, "probe:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func probe(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var p specs.LinuxSeccomp
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	cfg, err := specconv.SetupSeccomp(&p)
	if err != nil {
		return err
	}
	cfg.Architectures = RunnableArchitectures(cfg.Architectures)
	if _, err := lcseccomp.InitSeccomp(cfg); err != nil {
		return err
	}
	_, _, errno := unix.Syscall(unix.SYS_SETNS, ^uintptr(0), 0, 0)
	fmt.Print(unix.ErrnoName(errno))
	return nil
}

// runProbe returns what setns got under profile p in a child process.
func runProbe(t *testing.T, p *specs.LinuxSeccomp) string {
	t.Helper()
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), probeEnv+"="+file)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("probe: %v: %s", err, ee.Stderr)
	} else if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// TestNameUnderTwoRules checks what a system call named by two rules gets,
// through the same conversion and libseccomp build that runc v1.5.2 uses:
// the first unconditional rule decides it, and validation lets both
// profiles through as runc does. podman's default profile allows setns in
// its big allow rule and lists it again under an EPERM rule.
func TestNameUnderTwoRules(t *testing.T) {
	testutil.RequireRoot(t, "installing a filter without no_new_privs takes CAP_SYS_ADMIN")
	eperm := uint(unix.EPERM)
	rules := func(first, second specs.LinuxSeccompAction) *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"setns"}, Action: first, ErrnoRet: &eperm},
				{Names: []string{"setns", "no_such_call"}, Action: second, ErrnoRet: &eperm},
			},
		}
	}
	// podman's profile with a rule refusing setns put first.
	podmanDenyFirst := loadProfile(t, "podman-4.3.1-default.json")
	podmanDenyFirst.Syscalls = append([]specs.LinuxSyscall{{Names: []string{"setns"}, Action: specs.ActErrno, ErrnoRet: &eperm}},
		podmanDenyFirst.Syscalls...)
	tests := []struct {
		name string
		p    *specs.LinuxSeccomp
		want string
	}{
		{"errno first, then log (which allows)", rules(specs.ActErrno, specs.ActLog), "EPERM"},
		{"log (allows) first, then errno", rules(specs.ActLog, specs.ActErrno), "EBADF"},
		{"podman 4.3.1 default profile", loadProfile(t, "podman-4.3.1-default.json"), "EBADF"},
		{"podman's rules behind a rule refusing setns", podmanDenyFirst, "EPERM"},
		{"containerd 2.2.1 RuntimeDefault (unknown names skipped)", loadProfile(t, "containerd-2.2.1-runtime-default.json"), "EPERM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Validate(tc.p); err != nil {
				t.Fatalf("validate: %v", err)
			}
			if got := runProbe(t, tc.p); got != tc.want {
				t.Errorf("setns(-1, 0) got %s, want %s", got, tc.want)
			}
		})
	}
}
