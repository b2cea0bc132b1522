package seccomp

import (
	"encoding/json"
	"fmt"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// dockerProfile is the JSON seccomp profile format of Docker and
// containerd (default.json and user profiles).
type dockerProfile struct {
	DefaultAction    specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet  *uint                    `json:"defaultErrnoRet,omitempty"`
	Architectures    []specs.Arch             `json:"architectures,omitempty"`
	ArchMap          []dockerArchMap          `json:"archMap,omitempty"`
	Syscalls         []dockerSyscall          `json:"syscalls"`
	Flags            []specs.LinuxSeccompFlag `json:"flags,omitempty"`
	ListenerPath     string                   `json:"listenerPath,omitempty"`
	ListenerMetadata string                   `json:"listenerMetadata,omitempty"`
}

type dockerArchMap struct {
	Arch      specs.Arch   `json:"architecture"`
	SubArches []specs.Arch `json:"subArchitectures"`
}

type dockerSyscall struct {
	Name     string                   `json:"name,omitempty"`
	Names    []string                 `json:"names,omitempty"`
	Action   specs.LinuxSeccompAction `json:"action"`
	ErrnoRet *uint                    `json:"errnoRet,omitempty"`
	Args     []specs.LinuxSeccompArg  `json:"args"`
	Includes dockerFilter             `json:"includes"`
	Excludes dockerFilter             `json:"excludes"`
}

type dockerFilter struct {
	Caps      []string `json:"caps,omitempty"`
	Arches    []string `json:"arches,omitempty"`
	MinKernel string   `json:"minKernel,omitempty"`
}

// LoadDockerProfile converts a Docker-format JSON profile into the OCI
// form for a container whose bounding set is caps, on this host: rules
// are kept or dropped by their includes/excludes (capabilities, the host
// architecture, the running kernel's version). The result is validated.
func LoadDockerProfile(data []byte, caps []string) (*specs.LinuxSeccomp, error) {
	var d dockerProfile
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("seccomp profile is not valid JSON: %v: %w", err, ErrInvalid)
	}
	if d.DefaultAction == "" {
		return nil, invalid("defaultAction", "must be set")
	}
	kernel, err := kernelVersion()
	if err != nil {
		return nil, err
	}
	p := &specs.LinuxSeccomp{
		DefaultAction:    d.DefaultAction,
		DefaultErrnoRet:  d.DefaultErrnoRet,
		Architectures:    d.Architectures,
		Flags:            d.Flags,
		ListenerPath:     d.ListenerPath,
		ListenerMetadata: d.ListenerMetadata,
	}
	if len(d.ArchMap) > 0 {
		p.Architectures = nil
		native := Architectures()
		for _, m := range d.ArchMap {
			if len(native) > 0 && m.Arch == native[0] {
				p.Architectures = append([]specs.Arch{m.Arch}, m.SubArches...)
			}
		}
	}
	for i, sc := range d.Syscalls {
		names := sc.Names
		if sc.Name != "" {
			names = append([]string{sc.Name}, names...)
		}
		keep, err := sc.applies(caps, kernel)
		if err != nil {
			return nil, invalid(fmt.Sprintf("syscalls[%d].includes.minKernel", i), "%v", err)
		}
		if !keep {
			continue
		}
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: names, Action: sc.Action, ErrnoRet: sc.ErrnoRet, Args: sc.Args})
	}
	if err := Validate(p); err != nil {
		return nil, err
	}
	return p, nil
}

// applies tells whether a rule holds for the container and host.
func (sc dockerSyscall) applies(caps []string, kernel [2]int) (bool, error) {
	for _, c := range sc.Includes.Caps {
		if !slices.Contains(caps, c) {
			return false, nil
		}
	}
	for _, c := range sc.Excludes.Caps {
		if slices.Contains(caps, c) {
			return false, nil
		}
	}
	if len(sc.Includes.Arches) > 0 && !slices.ContainsFunc(sc.Includes.Arches, isHostArch) {
		return false, nil
	}
	if slices.ContainsFunc(sc.Excludes.Arches, isHostArch) {
		return false, nil
	}
	if sc.Includes.MinKernel != "" {
		min, err := parseKernel(sc.Includes.MinKernel)
		if err != nil {
			return false, err
		}
		if kernel[0] < min[0] || (kernel[0] == min[0] && kernel[1] < min[1]) {
			return false, nil
		}
	}
	return true, nil
}

// isHostArch matches Docker's arch names (Go names or seccomp names).
func isHostArch(a string) bool {
	if a == goruntime.GOARCH {
		return true
	}
	for _, native := range Architectures() {
		if strings.EqualFold(strings.TrimPrefix(string(native), "SCMP_ARCH_"), a) {
			return true
		}
	}
	return false
}

func kernelVersion() ([2]int, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return [2]int{}, err
	}
	return parseKernel(unix.ByteSliceToString(u.Release[:]))
}

func parseKernel(s string) ([2]int, error) {
	parts := strings.SplitN(s, ".", 3)
	if len(parts) < 2 {
		return [2]int{}, fmt.Errorf("%q is not a kernel version (MAJOR.MINOR)", s)
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return [2]int{}, fmt.Errorf("%q is not a kernel version (MAJOR.MINOR)", s)
	}
	return [2]int{major, minor}, nil
}
