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

// maxSyscallArgs is the number of arguments a Linux system call can have.
const maxSyscallArgs = 6

// Validate refuses, before anything is created, exactly the profiles that
// runc v1.5.2 refuses (in its spec conversion or in the container's init),
// each with an error naming the field: an unknown action, architecture,
// operator or flag, an argument index past 5, a notify rule for write or as
// the default action, and an empty system call name in a rule that is not
// redundant. Everything runc accepts is accepted, with runc's meaning:
//   - a name libseccomp does not know on this machine's architecture is
//     skipped (see Unknown), as a kernel or libseccomp older than the
//     profile would have it;
//   - a name under several rules is compiled rule by rule, in order, by
//     libseccomp, so the first unconditional rule for a call decides it;
//   - a rule whose action is the default action adds nothing;
//   - a rule with no names adds nothing.
//
// A nil profile, or one with neither a default action nor rules, is
// unconfined and valid.
func Validate(p *specs.LinuxSeccomp) error {
	if p == nil || (p.DefaultAction == "" && len(p.Syscalls) == 0) {
		return nil
	}
	defaultAction, err := effectiveAction(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return invalid("defaultAction", "%v", err)
	}
	if p.DefaultAction == specs.ActNotify {
		return invalid("defaultAction", "SCMP_ACT_NOTIFY cannot be the default action")
	}
	for i, a := range p.Architectures {
		name, err := lcseccomp.ConvertStringToArch(string(a))
		if err != nil {
			return invalid(fmt.Sprintf("architectures[%d]", i), "%q is not a seccomp architecture", a)
		}
		if _, err := libseccomp.GetArchFromString(name); err != nil {
			return invalid(fmt.Sprintf("architectures[%d]", i), "%q is not known to libseccomp: %v", a, err)
		}
	}
	for i, f := range p.Flags {
		if err := lcseccomp.FlagSupported(f); err != nil {
			return invalid(fmt.Sprintf("flags[%d]", i), "%q is not supported here: %v", f, err)
		}
	}
	operators := lcseccomp.KnownOperators()
	for i, sc := range p.Syscalls {
		field := fmt.Sprintf("syscalls[%d]", i)
		action, err := effectiveAction(sc.Action, sc.ErrnoRet)
		if err != nil {
			return invalid(field+".action", "%v", err)
		}
		for j, a := range sc.Args {
			if !slices.Contains(operators, string(a.Op)) {
				return invalid(fmt.Sprintf("%s.args[%d].op", field, j), "%q is not an operator (known: %v)", a.Op, operators)
			}
			if a.Index >= maxSyscallArgs {
				return invalid(fmt.Sprintf("%s.args[%d].index", field, j), "%d is past the last argument (a system call has %d)", a.Index, maxSyscallArgs)
			}
		}
		if action == defaultAction {
			continue // runc skips a redundant rule before reading its names
		}
		for j, name := range sc.Names {
			switch {
			case name == "":
				return invalid(fmt.Sprintf("%s.names[%d]", field, j), "empty string is not a system call name")
			case name == "write" && sc.Action == specs.ActNotify:
				return invalid(fmt.Sprintf("%s.names[%d]", field, j), "SCMP_ACT_NOTIFY cannot be used for write (the init reports the notify fd through it)")
			}
		}
	}
	return nil
}

// Unknown returns the names in p's rules that libseccomp does not know on
// this machine's architecture; the container's init skips them, as runc
// does, and callers may log them.
func Unknown(p *specs.LinuxSeccomp) []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, sc := range p.Syscalls {
		for _, name := range sc.Names {
			if name == "" || slices.Contains(out, name) {
				continue
			}
			if _, err := libseccomp.GetSyscallFromName(name); err != nil {
				out = append(out, name)
			}
		}
	}
	return out
}

// ruleAction is an action as the filter sees it: SCMP_ACT_KILL and
// SCMP_ACT_KILL_THREAD are one action, and ERRNO and TRACE carry their
// return code (EPERM when none is given).
type ruleAction struct {
	name specs.LinuxSeccompAction
	ret  uint
}

// effectiveAction converts an action as libcontainer does, so that a rule
// can be compared with the default action as runc compares them.
func effectiveAction(a specs.LinuxSeccompAction, errnoRet *uint) (ruleAction, error) {
	if _, err := lcseccomp.ConvertStringToAction(string(a)); err != nil {
		return ruleAction{}, fmt.Errorf("%q is not an action (known: %v)", a, lcseccomp.KnownActions())
	}
	out := ruleAction{name: a}
	switch a {
	case specs.ActKill:
		out.name = specs.ActKillThread
	case specs.ActErrno, specs.ActTrace:
		out.ret = 1 // EPERM
		if errnoRet != nil {
			out.ret = *errnoRet
		}
	}
	return out, nil
}
