package testutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Result is how a command ended: what it printed and its exit code.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Outcome is the result in one line, for comparing runtimes side by side:
// the exit code and stdout, and stderr when the command failed.
func (r Result) Outcome() string {
	if r.Code != 0 && r.Stderr != "" {
		return fmt.Sprintf("exit %d %s [stderr: %s]", r.Code, r.Stdout, r.Stderr)
	}
	return fmt.Sprintf("exit %d %s", r.Code, r.Stdout)
}

// ExitCode is the exit code err reports: 0 for nil, the code of an
// *exec.ExitError, and false for an error that is not an exit (the command
// did not run).
func ExitCode(err error) (int, bool) {
	if err == nil {
		return 0, true
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), true
	}
	return -1, false
}

// RunCommand runs cmd and returns what it printed, trimmed of surrounding
// space, and its exit code; the error is for a command that could not run.
// Unless cmd has them already, its stdout and stderr are files, not pipes:
// a runtime's create hands its stdio to the container, which would keep a
// pipe open (and exec.Cmd waiting) for the container's whole life.
func RunCommand(cmd *exec.Cmd) (Result, error) {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	capture := func(w **os.File) error {
		f, err := os.CreateTemp("", "testutil-out")
		if err != nil {
			return err
		}
		files = append(files, f)
		*w = f
		return nil
	}
	var outFile, errFile *os.File
	if cmd.Stdout == nil {
		if err := capture(&outFile); err != nil {
			return Result{}, err
		}
		cmd.Stdout = outFile
	}
	if cmd.Stderr == nil {
		if err := capture(&errFile); err != nil {
			return Result{}, err
		}
		cmd.Stderr = errFile
	}
	runErr := cmd.Run()
	var r Result
	for _, c := range []struct {
		f   *os.File
		out *string
	}{{outFile, &r.Stdout}, {errFile, &r.Stderr}} {
		if c.f == nil {
			continue
		}
		data, err := os.ReadFile(c.f.Name())
		if err != nil {
			return Result{}, err
		}
		*c.out = strings.TrimSpace(string(data))
	}
	code, exited := ExitCode(runErr)
	if !exited {
		return r, fmt.Errorf("%v: %w", cmd.Args, runErr)
	}
	r.Code = code
	return r, nil
}
