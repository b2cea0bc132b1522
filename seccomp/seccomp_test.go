package seccomp

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func allowedNames(p *specs.LinuxSeccomp) []string {
	var out []string
	for _, sc := range p.Syscalls {
		if sc.Action == specs.ActAllow && len(sc.Args) == 0 {
			out = append(out, sc.Names...)
		}
	}
	return out
}

func TestDefaultProfile(t *testing.T) {
	never := []string{"keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load", "userfaultfd",
		"io_uring_setup", "swapon", "uselib", "_sysctl", "nfsservctl"}
	tests := []struct {
		name    string
		caps    []string
		allow   []string
		deny    []string
		cloneOK bool // clone allowed without an argument filter
	}{
		{"default caps", []string{"CAP_KILL", "CAP_AUDIT_WRITE"}, []string{"read", "execve", "socket"},
			append([]string{"mount", "unshare", "setns", "ptrace", "bpf", "reboot", "chroot", "init_module", "clone3"}, never...), false},
		{"sys_admin", []string{"CAP_SYS_ADMIN"}, []string{"mount", "unshare", "setns", "clone", "clone3", "bpf"},
			append([]string{"ptrace", "reboot"}, never...), true},
		{"sys_ptrace", []string{"CAP_SYS_PTRACE"}, []string{"ptrace", "process_vm_readv"}, append([]string{"mount"}, never...), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultProfile(tc.caps)
			if err := Validate(p); err != nil {
				t.Fatal(err)
			}
			if p.DefaultAction != specs.ActErrno || *p.DefaultErrnoRet != errnoEPERM {
				t.Fatalf("default action %s/%v", p.DefaultAction, p.DefaultErrnoRet)
			}
			names := allowedNames(p)
			for _, n := range tc.allow {
				if !slices.Contains(names, n) {
					t.Errorf("%s not allowed", n)
				}
			}
			for _, n := range tc.deny {
				if slices.Contains(names, n) {
					t.Errorf("%s allowed", n)
				}
			}
			filtered := slices.ContainsFunc(p.Syscalls, func(sc specs.LinuxSyscall) bool {
				return slices.Contains(sc.Names, "clone") && len(sc.Args) == 1 && sc.Args[0].Op == specs.OpMaskedEqual
			})
			if filtered == tc.cloneOK {
				t.Errorf("clone namespace filter present=%v, want %v", filtered, !tc.cloneOK)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	good := func() *specs.LinuxSeccomp { return DefaultProfile(nil) }
	errno := func(v uint) *uint { return &v }
	tests := []struct {
		name  string
		edit  func(*specs.LinuxSeccomp)
		field string // "" means valid, as runc v1.5.2 takes it
	}{
		{"default", func(*specs.LinuxSeccomp) {}, ""},
		// runc refuses these too (spec conversion or the init's filter build).
		{"unknown default action", func(p *specs.LinuxSeccomp) { p.DefaultAction = "SCMP_ACT_BOGUS" }, "defaultAction"},
		{"empty default action with rules", func(p *specs.LinuxSeccomp) { p.DefaultAction = "" }, "defaultAction"},
		{"notify as default action", func(p *specs.LinuxSeccomp) { p.DefaultAction = specs.ActNotify }, "defaultAction"},
		{"unknown arch", func(p *specs.LinuxSeccomp) { p.Architectures = []specs.Arch{"SCMP_ARCH_VAX"} }, "architectures[0]"},
		{"unknown action", func(p *specs.LinuxSeccomp) { p.Syscalls[0].Action = "SCMP_ACT_MAYBE" }, "syscalls[0].action"},
		{"unknown operator", func(p *specs.LinuxSeccomp) {
			p.Syscalls[1].Args[0].Op = "SCMP_CMP_ABOUT"
		}, "syscalls[1].args[0].op"},
		{"argument index past 5", func(p *specs.LinuxSeccomp) { p.Syscalls[1].Args[0].Index = 6 }, "syscalls[1].args[0].index"},
		{"unknown flag", func(p *specs.LinuxSeccomp) { p.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_BOGUS"} }, "flags[0]"},
		{"empty name", func(p *specs.LinuxSeccomp) { p.Syscalls[0].Names = append(p.Syscalls[0].Names, "") }, "syscalls[0].names["},
		{"notify for write", func(p *specs.LinuxSeccomp) {
			p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"write"}, Action: specs.ActNotify})
		}, "syscalls["},
		// runc accepts these: unknown names are skipped, duplicates are
		// compiled in order, redundant and empty rules add nothing.
		{"unknown syscall name", func(p *specs.LinuxSeccomp) { p.Syscalls[0].Names = append(p.Syscalls[0].Names, "nosuchcall") }, ""},
		{"unprefixed unknown name", func(p *specs.LinuxSeccomp) { p.Syscalls[0].Names = append(p.Syscalls[0].Names, "getxattrat", "mseal") }, ""},
		{"call under two actions", func(p *specs.LinuxSeccomp) {
			p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"mkdir"}, Action: specs.ActNotify})
		}, ""},
		{"empty names", func(p *specs.LinuxSeccomp) { p.Syscalls[0].Names = nil }, ""},
		{"empty name in a redundant rule", func(p *specs.LinuxSeccomp) {
			p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{""}, Action: specs.ActErrno, ErrnoRet: errno(1)})
		}, ""},
		{"empty name in a rule with the default action", func(p *specs.LinuxSeccomp) {
			p.DefaultAction, p.DefaultErrnoRet = specs.ActAllow, nil
			p.Syscalls = []specs.LinuxSyscall{{Names: []string{""}, Action: specs.ActAllow}}
		}, ""},
		{"no default action and no rules (unconfined)", func(p *specs.LinuxSeccomp) { p.DefaultAction, p.Syscalls = "", nil }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := good()
			tc.edit(p)
			err := Validate(p)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused what runc accepts: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !strings.HasPrefix(ve.Field, tc.field) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v, want one about %s", err, tc.field)
			}
		})
	}
	if err := Validate(nil); err != nil {
		t.Errorf("nil profile: %v", err)
	}
}

// realProfiles are OCI profiles as real clients send them (see
// testdata/README.md for how each was captured).
var realProfiles = []struct {
	file string
	// unknownMax are the names the newest libseccomp may not know yet;
	// Unknown must list no other.
	unknownMax []string
}{
	{"podman-4.3.1-default.json", nil},
	{"containerd-2.2.1-runtime-default.json", []string{"getxattrat", "setxattrat", "listxattrat", "removexattrat",
		"listmount", "statmount", "lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules", "mseal", "uretprobe"}},
}

func loadProfile(t *testing.T, file string) *specs.LinuxSeccomp {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var p specs.LinuxSeccomp
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

func TestRealProfiles(t *testing.T) {
	for _, rp := range realProfiles {
		t.Run(rp.file, func(t *testing.T) {
			p := loadProfile(t, rp.file)
			if err := Validate(p); err != nil {
				t.Fatalf("refused a profile runc runs: %v", err)
			}
			for _, name := range Unknown(p) {
				if !slices.Contains(rp.unknownMax, name) {
					t.Errorf("%q reported unknown", name)
				}
			}
		})
	}
}

func TestLoadDockerProfile(t *testing.T) {
	profile := `{
		"defaultAction": "SCMP_ACT_ERRNO",
		"defaultErrnoRet": 1,
		"archMap": [
			{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
			{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
		],
		"syscalls": [
			{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
			{"names": ["chmod"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
			{"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
			{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
			{"names": ["uselib"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}}
		]
	}`
	p, err := LoadDockerProfile([]byte(profile), []string{"CAP_KILL"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sc := range p.Syscalls {
		names = append(names, sc.Names...)
	}
	want := []string{"read", "write", "exit_group", "chmod", "arch_prctl", "ptrace"}
	if !slices.Equal(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
	if len(p.Architectures) != 3 || p.Architectures[0] != specs.ArchX86_64 {
		t.Errorf("architectures %v", p.Architectures)
	}
	admin, err := LoadDockerProfile([]byte(profile), []string{"CAP_SYS_ADMIN"})
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(admin.Syscalls, func(sc specs.LinuxSyscall) bool { return slices.Contains(sc.Names, "chmod") }) ||
		!slices.ContainsFunc(admin.Syscalls, func(sc specs.LinuxSyscall) bool { return slices.Contains(sc.Names, "mount") }) {
		t.Errorf("CAP_SYS_ADMIN rules: %+v", admin.Syscalls)
	}
	for name, bad := range map[string]string{
		"not JSON":          `{`,
		"no default action": `{"syscalls": []}`,
		"unknown action":    `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_MAYBE"}]}`,
		"bad minKernel":     `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "x"}}]}`,
	} {
		if _, err := LoadDockerProfile([]byte(bad), nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
