package seccomp

import (
	"errors"
	"fmt"
	"slices"

	lcseccomp "github.com/opencontainers/runc/libcontainer/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid seccomp profile")

// ValidationError names the field of linux.seccomp at fault.
type ValidationError struct {
	Field  string
	Reason string
}

// Error returns "linux.seccomp.<field>: <reason>".
func (e *ValidationError) Error() string { return "linux.seccomp." + e.Field + ": " + e.Reason }

// Is makes a ValidationError match ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Validate checks a profile against what the kernel and libseccomp
// support: actions, operators, architectures, flags, and that every
// syscall name is known on at least one of the profile's architectures.
// A nil profile (unconfined) is valid.
func Validate(p *specs.LinuxSeccomp) error {
	if p == nil {
		return nil
	}
	actions := lcseccomp.KnownActions()
	if !slices.Contains(actions, string(p.DefaultAction)) {
		return invalid("defaultAction", "%q is not an action (known: %v)", p.DefaultAction, actions)
	}
	var arches []libseccomp.ScmpArch
	for i, a := range p.Architectures {
		name, err := lcseccomp.ConvertStringToArch(string(a))
		if err != nil {
			return invalid(fmt.Sprintf("architectures[%d]", i), "%q is not a seccomp architecture", a)
		}
		arch, err := libseccomp.GetArchFromString(name)
		if err != nil {
			return invalid(fmt.Sprintf("architectures[%d]", i), "%q is not known to libseccomp: %v", a, err)
		}
		arches = append(arches, arch)
	}
	if len(arches) == 0 {
		native, err := libseccomp.GetNativeArch()
		if err != nil {
			return err
		}
		arches = []libseccomp.ScmpArch{native}
	}
	for i, f := range p.Flags {
		if err := lcseccomp.FlagSupported(f); err != nil {
			return invalid(fmt.Sprintf("flags[%d]", i), "%q is not supported here: %v", f, err)
		}
	}
	operators := lcseccomp.KnownOperators()
	// firstRule is, per call, the first rule without argument conditions:
	// a later one with another action would be silently ignored.
	firstRule := map[string]int{}
	for i, sc := range p.Syscalls {
		field := fmt.Sprintf("syscalls[%d]", i)
		if len(sc.Names) == 0 {
			return invalid(field+".names", "must not be empty")
		}
		if !slices.Contains(actions, string(sc.Action)) {
			return invalid(field+".action", "%q is not an action (known: %v)", sc.Action, actions)
		}
		for j, a := range sc.Args {
			if !slices.Contains(operators, string(a.Op)) {
				return invalid(fmt.Sprintf("%s.args[%d].op", field, j), "%q is not an operator (known: %v)", a.Op, operators)
			}
		}
		for j, name := range sc.Names {
			if !knownOnAny(name, arches) {
				return invalid(fmt.Sprintf("%s.names[%d]", field, j), "%q is not a system call on %v", name, p.Architectures)
			}
			if len(sc.Args) > 0 {
				continue
			}
			if k, seen := firstRule[name]; seen && p.Syscalls[k].Action != sc.Action {
				return invalid(fmt.Sprintf("%s.names[%d]", field, j), "%q already has action %s in syscalls[%d]; only the first rule would apply", name, p.Syscalls[k].Action, k)
			} else if !seen {
				firstRule[name] = i
			}
		}
	}
	return nil
}

func knownOnAny(name string, arches []libseccomp.ScmpArch) bool {
	for _, a := range arches {
		if _, err := libseccomp.GetSyscallFromNameByArch(name, a); err == nil {
			return true
		}
	}
	return false
}
