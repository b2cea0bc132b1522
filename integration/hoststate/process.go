package hoststate

import (
	"os/exec"
	"syscall"
	"time"
)

// Terminate stops a started command: SIGTERM, then SIGKILL if it has not
// exited within grace. It waits for the command either way.
func Terminate(cmd *exec.Cmd, grace time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}
