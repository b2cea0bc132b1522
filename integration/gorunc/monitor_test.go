package gorunc

import (
	"errors"
	"os"
	"os/exec"
	"testing"

	runc "github.com/containerd/go-runc"
)

// waitOnRequestMonitor waits for a command only when go-runc asks, as
// containerd's reaper-based monitor does. go-runc's default monitor waits
// at once in a goroutine, and exec.Cmd.Wait then closes the stdout pipe
// that Stats and Events are still reading ("file already closed").
type waitOnRequestMonitor struct{}

func (waitOnRequestMonitor) Start(c *exec.Cmd) (chan runc.Exit, error) {
	if err := c.Start(); err != nil {
		return nil, err
	}
	return make(chan runc.Exit, 1), nil
}

func (waitOnRequestMonitor) StartLocked(c *exec.Cmd) (chan runc.Exit, error) {
	return waitOnRequestMonitor{}.Start(c)
}

func (waitOnRequestMonitor) Wait(c *exec.Cmd, _ chan runc.Exit) (int, error) {
	err := c.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

func TestMain(m *testing.M) {
	runc.Monitor = waitOnRequestMonitor{}
	os.Exit(m.Run())
}
