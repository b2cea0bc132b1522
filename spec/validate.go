package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Validate checks a spec for a container whose bundle is the absolute path
// bundle. The first problem found is returned as a *FieldError. ociVersion
// is not checked: runc runs a spec of any version, or of none.
func Validate(s *specs.Spec, bundle string) error {
	if err := validateRoot(s, bundle); err != nil {
		return err
	}
	if s.Process == nil {
		return fieldErr("process", "must be present: it describes the container's init")
	}
	if err := ValidateProcess(s.Process, "process"); err != nil {
		return err
	}
	for i, m := range s.Mounts {
		if m.Destination == "" {
			return fieldErr(fmt.Sprintf("mounts[%d].destination", i), "must not be empty")
		}
	}
	if s.Linux == nil {
		return fieldErr("linux", "must be present on Linux")
	}
	if err := validateNamespaces(s); err != nil {
		return err
	}
	return validateResources(s.Linux.Resources)
}

func validateRoot(s *specs.Spec, bundle string) error {
	if s.Root == nil || s.Root.Path == "" {
		return fieldErr("root.path", "must be set to the container's root filesystem")
	}
	rootfs := RootfsPath(s, bundle)
	st, err := os.Stat(rootfs)
	if err != nil {
		if os.IsNotExist(err) {
			return fieldErr("root.path", "%s does not exist", rootfs)
		}
		return fieldErr("root.path", "%v", err)
	}
	if !st.IsDir() {
		return fieldErr("root.path", "%s is not a directory", rootfs)
	}
	return nil
}

// ValidateProcess checks a process description; field is its JSON path, used
// in errors ("process" for a container's init).
func ValidateProcess(p *specs.Process, field string) error {
	if len(p.Args) == 0 {
		return fieldErr(field+".args", "must not be empty")
	}
	if p.Cwd == "" {
		return fieldErr(field+".cwd", "must not be empty")
	}
	if !filepath.IsAbs(p.Cwd) {
		return fieldErr(field+".cwd", "%q must be an absolute path", p.Cwd)
	}
	for i, e := range p.Env {
		if !strings.Contains(e, "=") {
			return fieldErr(fmt.Sprintf("%s.env[%d]", field, i), "%q must be of the form KEY=VALUE", e)
		}
	}
	// Capability names are not checked: as runc does, the container's
	// init warns about unknown or unavailable ones and ignores them.
	seen := map[string]bool{}
	for i, rl := range p.Rlimits {
		f := fmt.Sprintf("%s.rlimits[%d].type", field, i)
		if _, ok := rlimitTypes[rl.Type]; !ok {
			return fieldErr(f, "%q is not a known rlimit (expected e.g. RLIMIT_NOFILE)", rl.Type)
		}
		if seen[rl.Type] {
			return fieldErr(f, "%q is given more than once", rl.Type)
		}
		seen[rl.Type] = true
		if rl.Soft > rl.Hard {
			return fieldErr(fmt.Sprintf("%s.rlimits[%d].soft", field, i), "%d is above the hard limit %d", rl.Soft, rl.Hard)
		}
	}
	return nil
}

var knownNamespaces = map[specs.LinuxNamespaceType]bool{
	specs.PIDNamespace: true, specs.NetworkNamespace: true, specs.MountNamespace: true,
	specs.IPCNamespace: true, specs.UTSNamespace: true, specs.UserNamespace: true,
	specs.CgroupNamespace: true, specs.TimeNamespace: true,
}

func validateNamespaces(s *specs.Spec) error {
	seen := map[specs.LinuxNamespaceType]bool{}
	for i, ns := range s.Linux.Namespaces {
		f := fmt.Sprintf("linux.namespaces[%d].type", i)
		if !knownNamespaces[ns.Type] {
			return fieldErr(f, "%q is not a namespace type (expected one of pid, network, mount, ipc, uts, user, cgroup, time)", ns.Type)
		}
		if seen[ns.Type] {
			return fieldErr(f, "%q is listed more than once", ns.Type)
		}
		seen[ns.Type] = true
	}
	// A UTS namespace of the container's own, new or joined by path.
	if s.Hostname != "" && !seen[specs.UTSNamespace] {
		return fieldErr("hostname", "needs a UTS namespace: add {\"type\": \"uts\"} to linux.namespaces")
	}
	return nil
}

func validateResources(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if m := r.Memory; m != nil {
		for name, v := range map[string]*int64{"limit": m.Limit, "reservation": m.Reservation, "swap": m.Swap} {
			if v != nil && *v < -1 {
				return fieldErr("linux.resources.memory."+name, "%d is negative (use -1 for unlimited)", *v)
			}
		}
	}
	if c := r.CPU; c != nil && c.Quota != nil && *c.Quota < -1 {
		return fieldErr("linux.resources.cpu.quota", "%d is negative (use -1 for unlimited)", *c.Quota)
	}
	if p := r.Pids; p != nil && p.Limit != nil && *p.Limit < -1 {
		return fieldErr("linux.resources.pids.limit", "%d is negative (use -1 or 0 for unlimited)", *p.Limit)
	}
	return nil
}
