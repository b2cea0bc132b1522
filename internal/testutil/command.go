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

// Trim returns the result with its output trimmed of surrounding space.
func (r Result) Trim() Result {
	r.Stdout, r.Stderr = strings.TrimSpace(r.Stdout), strings.TrimSpace(r.Stderr)
	return r
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

// RunCommand runs cmd and returns what it printed, as printed, and its
// exit code; the error is for a command that could not run. Its stdout and
// stderr are files, not pipes: a runtime's create hands its stdio to the
// container, which would keep a pipe open (and exec.Cmd waiting) for the
// container's whole life.
func RunCommand(cmd *exec.Cmd) (Result, error) {
	outFile, err := os.CreateTemp("", "testutil-stdout")
	if err != nil {
		return Result{}, err
	}
	defer os.Remove(outFile.Name())
	defer outFile.Close()
	errFile, err := os.CreateTemp("", "testutil-stderr")
	if err != nil {
		return Result{}, err
	}
	defer os.Remove(errFile.Name())
	defer errFile.Close()
	cmd.Stdout, cmd.Stderr = outFile, errFile
	runErr := cmd.Run()
	stdout, err := os.ReadFile(outFile.Name())
	if err != nil {
		return Result{}, err
	}
	stderr, err := os.ReadFile(errFile.Name())
	if err != nil {
		return Result{}, err
	}
	r := Result{Stdout: string(stdout), Stderr: string(stderr)}
	code, exited := ExitCode(runErr)
	if !exited {
		return r, fmt.Errorf("%v: %w", cmd.Args, runErr)
	}
	r.Code = code
	return r, nil
}
