package runtime

import (
	"fmt"
	"os"
	"strconv"

	"github.com/berth-oci/berth/spec"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
)

// IO is the stdio of a container process. Either give files (pipes, FIFOs,
// terminals, regular files; nil means /dev/null) or, for a process whose spec
// asks for a terminal, a console socket: a connected unix socket over which
// the new process sends the master end of its pseudo-terminal (see
// ReceiveConsole). The caller keeps ownership of these files and should close
// its copies once the process has started.
type IO struct {
	Stdin, Stdout, Stderr *os.File
	ConsoleSocket         *os.File
	// PidfdSocket, if set, is a connected unix socket over which the new
	// process sends a pidfd of itself (runc's --pidfd-socket; Linux 5.3+).
	PidfdSocket *os.File
}

func (io IO) validate(terminal bool, field string) error {
	if terminal && io.ConsoleSocket == nil {
		return errorf(ErrInvalid, "%s.terminal is true but no console socket was given", field)
	}
	if !terminal && io.ConsoleSocket != nil {
		return errorf(ErrInvalid, "a console socket was given but %s.terminal is false", field)
	}
	return nil
}

// newProcess converts an OCI process into libcontainer's, with its IO.
func newProcess(p *specs.Process, io IO, extra []*os.File) (*libcontainer.Process, error) {
	lp := &libcontainer.Process{
		Args:            p.Args,
		Env:             p.Env,
		UID:             int(p.User.UID),
		GID:             int(p.User.GID),
		Cwd:             p.Cwd,
		Label:           p.SelinuxLabel,
		NoNewPrivileges: &p.NoNewPrivileges,
		AppArmorProfile: p.ApparmorProfile,
		Scheduler:       p.Scheduler,
		IOPriority:      p.IOPriority,
		ExtraFiles:      extra,
		LogLevel:        strconv.Itoa(int(logrus.GetLevel())),
	}
	if p.ConsoleSize != nil {
		lp.ConsoleWidth = uint16(p.ConsoleSize.Width)
		lp.ConsoleHeight = uint16(p.ConsoleSize.Height)
	}
	if c := p.Capabilities; c != nil {
		lp.Capabilities = &configs.Capabilities{
			Bounding:    c.Bounding,
			Effective:   c.Effective,
			Inheritable: c.Inheritable,
			Permitted:   c.Permitted,
			Ambient:     c.Ambient,
		}
	}
	for _, g := range p.User.AdditionalGids {
		lp.AdditionalGroups = append(lp.AdditionalGroups, int(g))
	}
	for _, rl := range p.Rlimits {
		t, ok := spec.RlimitType(rl.Type)
		if !ok {
			return nil, errorf(ErrInvalid, "process.rlimits: %q is not a known rlimit", rl.Type)
		}
		lp.Rlimits = append(lp.Rlimits, configs.Rlimit{Type: t, Hard: rl.Hard, Soft: rl.Soft})
	}
	aff, err := configs.ConvertCPUAffinity(p.ExecCPUAffinity)
	if err != nil {
		return nil, withKind(ErrInvalid, fmt.Errorf("process.execCPUAffinity: %w", err))
	}
	lp.CPUAffinity = aff
	// Only set non-nil files: a nil *os.File in an io.Reader is not nil.
	if io.Stdin != nil {
		lp.Stdin = io.Stdin
	}
	if io.Stdout != nil {
		lp.Stdout = io.Stdout
	}
	if io.Stderr != nil {
		lp.Stderr = io.Stderr
	}
	lp.ConsoleSocket = io.ConsoleSocket
	lp.PidfdSocket = io.PidfdSocket
	return lp, nil
}
