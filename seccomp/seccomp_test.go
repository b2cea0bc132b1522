package seccomp

import (
	"errors"
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
	tests := []struct {
		name  string
		edit  func(*specs.LinuxSeccomp)
		field string
	}{
		{"default", func(*specs.LinuxSeccomp) {}, ""},
		{"unknown default action", func(p *specs.LinuxSeccomp) { p.DefaultAction = "SCMP_ACT_BOGUS" }, "defaultAction"},
		{"unknown arch", func(p *specs.LinuxSeccomp) { p.Architectures = []specs.Arch{"SCMP_ARCH_VAX"} }, "architectures[0]"},
		{"unknown syscall", func(p *specs.LinuxSeccomp) { p.Syscalls[0].Names = append(p.Syscalls[0].Names, "nosuchcall") }, "syscalls[0].names["},
		{"empty names", func(p *specs.LinuxSeccomp) { p.Syscalls[0].Names = nil }, "syscalls[0].names"},
		{"unknown action", func(p *specs.LinuxSeccomp) { p.Syscalls[0].Action = "SCMP_ACT_MAYBE" }, "syscalls[0].action"},
		{"unknown operator", func(p *specs.LinuxSeccomp) {
			p.Syscalls[1].Args[0].Op = "SCMP_CMP_ABOUT"
		}, "syscalls[1].args[0].op"},
		{"unknown flag", func(p *specs.LinuxSeccomp) { p.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_BOGUS"} }, "flags[0]"},
		{"call under two actions", func(p *specs.LinuxSeccomp) {
			p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"mkdir"}, Action: specs.ActNotify})
		}, "syscalls["},
	}
	for _, tc := range tests {
		p := good()
		tc.edit(p)
		err := Validate(p)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || !strings.HasPrefix(ve.Field, tc.field) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v, want one about %s", tc.name, err, tc.field)
		}
	}
	if err := Validate(nil); err != nil {
		t.Errorf("nil profile: %v", err)
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
		"unknown syscall":   `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["nosuchcall"], "action": "SCMP_ACT_ALLOW"}]}`,
		"bad minKernel":     `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "x"}}]}`,
	} {
		if _, err := LoadDockerProfile([]byte(bad), nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
