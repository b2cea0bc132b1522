package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli"
	"golang.org/x/sys/unix"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/spec"
)

var execCommand = cli.Command{
	Name:  "exec",
	Usage: "execute new process inside the container",
	ArgsUsage: `<container-id> <command> [command options]  || -p process.json <container-id>

Where "<container-id>" is the name for the instance of the container and
"<command>" is the command to be executed in the container.
"<command>" can't be empty unless a "-p" flag provided.`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "console-socket", Usage: "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"},
		cli.StringFlag{Name: "cwd", Usage: "current working directory in the container"},
		cli.StringSliceFlag{Name: "env, e", Usage: "set environment variables"},
		cli.BoolFlag{Name: "tty, t", Usage: "allocate a pseudo-TTY"},
		cli.StringFlag{Name: "user, u", Usage: "UID (format: <uid>[:<gid>])"},
		cli.Int64SliceFlag{Name: "additional-gids, g", Usage: "additional gids"},
		cli.StringFlag{Name: "process, p", Usage: "path to the process.json"},
		cli.BoolFlag{Name: "detach, d", Usage: "detach from the container's process"},
		cli.StringFlag{Name: "pidfd-socket", Usage: "path to an AF_UNIX socket which will receive a file descriptor referencing the exec process"},
		cli.StringFlag{Name: "pid-file", Usage: "specify the file to write the process id to"},
		cli.StringFlag{Name: "process-label", Usage: "set the asm process label for the process commonly used with selinux"},
		cli.StringFlag{Name: "apparmor", Usage: "set the apparmor profile for the process"},
		cli.BoolFlag{Name: "no-new-privs", Usage: "set the no new privileges value for the process"},
		cli.StringSliceFlag{Name: "cap, c", Usage: "add a capability to the bounding set for the process"},
		cli.IntFlag{Name: "preserve-fds", Usage: "Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)"},
		cli.StringSliceFlag{Name: "cgroup", Usage: "run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>."},
		cli.BoolFlag{Name: "ignore-paused", Usage: "allow exec in a paused container"},
	},
	SkipArgReorder: true,
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1, minArgs); err != nil {
			return err
		}
		code, err := execProcess(c)
		if err != nil {
			// As runc: 255 tells a failed exec from the process's own code.
			fatalWithCode(fmt.Errorf("exec failed: %w", err), 255)
		}
		os.Exit(code)
		return nil
	},
}

func execProcess(c *cli.Context) (int, error) {
	ctr, err := loadContainer(c)
	if err != nil {
		return -1, err
	}
	st, err := ctr.State()
	if err != nil {
		return -1, err
	}
	if err := berth.CanExec(st.Status, c.Bool("ignore-paused")); err != nil {
		return -1, execStatusError(err)
	}
	p, err := execSpec(c, ctr)
	if err != nil {
		return -1, err
	}
	subCgroups, err := parseSubCgroups(c.StringSlice("cgroup"))
	if err != nil {
		return -1, err
	}
	detach := c.Bool("detach")
	pidFile, err := optionalAbsPath("pid-file", c.String("pid-file"))
	if err != nil {
		return -1, err
	}
	extra, err := preservedFiles(3, c.Int("preserve-fds"))
	if err != nil {
		return -1, err
	}
	stdio, err := setupStdio(stdioFlagsOf(c, p.Terminal, detach))
	if err != nil {
		return -1, err
	}
	defer stdio.close()
	ctx := context.Background()
	proc, err := ctr.Exec(ctx, p, berth.ExecOpts{
		IO:             stdio.io,
		ExtraFiles:     extra,
		AllowPaused:    c.Bool("ignore-paused"),
		SubCgroupPaths: subCgroups,
	})
	if err != nil {
		return -1, err
	}
	if err := stdio.afterStart(proc.Pid(), pidFile); err != nil {
		_ = proc.Signal(unix.SIGKILL)
		return -1, err
	}
	if detach {
		return 0, nil
	}
	status := stdio.forward(ctx, proc)
	return status.ExitCode(), nil
}

// execSpec builds the process to exec: --process, or the bundle's process
// with the command line's arguments and overrides, as runc does.
func execSpec(c *cli.Context, ctr *berth.Container) (*specs.Process, error) {
	if path := c.String("process"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", err)
		}
		var p specs.Process
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("--process %s: not an OCI process in JSON: %w", path, err)
		}
		return &p, spec.ValidateProcess(&p, "--process")
	}
	args := c.Args()
	if len(args) < 2 {
		return nil, errors.New("exec args cannot be empty")
	}
	s, err := spec.Load(ctr.Bundle())
	if err != nil {
		return nil, err
	}
	p := s.Process
	p.Args = args[1:]
	if cwd := c.String("cwd"); cwd != "" {
		p.Cwd = cwd
	}
	if ap := c.String("apparmor"); ap != "" {
		p.ApparmorProfile = ap
	}
	if l := c.String("process-label"); l != "" {
		p.SelinuxLabel = l
	}
	if caps := c.StringSlice("cap"); len(caps) > 0 {
		if p.Capabilities == nil {
			p.Capabilities = &specs.LinuxCapabilities{}
		}
		for _, cp := range caps {
			p.Capabilities.Bounding = append(p.Capabilities.Bounding, cp)
			p.Capabilities.Effective = append(p.Capabilities.Effective, cp)
			p.Capabilities.Permitted = append(p.Capabilities.Permitted, cp)
			if p.Capabilities.Inheritable != nil {
				p.Capabilities.Ambient = append(p.Capabilities.Ambient, cp)
			}
		}
	}
	p.Env = append(p.Env, c.StringSlice("env")...)
	p.Terminal = c.Bool("tty")
	if c.IsSet("no-new-privs") {
		p.NoNewPrivileges = c.Bool("no-new-privs")
	}
	if u := c.String("user"); u != "" {
		uid, gid, hasGid := strings.Cut(u, ":")
		if hasGid {
			g, err := strconv.ParseUint(gid, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--user %q: gid %q is not a number", u, gid)
			}
			p.User.GID = uint32(g)
		}
		n, err := strconv.ParseUint(uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--user %q: uid %q is not a number", u, uid)
		}
		p.User.UID = uint32(n)
	}
	for _, g := range c.Int64Slice("additional-gids") {
		if g < 0 || g > 1<<32-1 {
			return nil, fmt.Errorf("--additional-gids: %d is not a valid gid", g)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	return p, spec.ValidateProcess(p, "process")
}

// parseSubCgroups parses --cgroup values: "path" (every controller, or
// v2) or "controller[,controller]:path".
func parseSubCgroups(values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, v := range values {
		ctrls, path, ok := strings.Cut(v, ":")
		if !ok {
			if len(values) != 1 {
				return nil, fmt.Errorf("--cgroup %q: a path for all controllers must be the only --cgroup", v)
			}
			out[""] = v
			continue
		}
		for _, ctrl := range strings.Split(ctrls, ",") {
			if _, dup := out[ctrl]; dup {
				return nil, fmt.Errorf("--cgroup %q: controller %s given twice", v, ctrl)
			}
			out[ctrl] = path
		}
	}
	return out, nil
}

// execStatusError words the library's refusal of an exec as runc does.
func execStatusError(err error) error {
	var se *berth.StatusError
	if !errors.As(err, &se) {
		return err
	}
	if se.Status == berth.Paused {
		return errors.New("cannot exec in a paused container (use --ignore-paused to override)")
	}
	return fmt.Errorf("cannot exec in a %s container", se.Status)
}
