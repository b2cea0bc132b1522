package shim

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestSurviveBrokenStderr runs a child that writes to a stderr whose
// reader is gone: without surviveBrokenStderr Go kills it with SIGPIPE
// (which shows the check can fail), with it the write just fails.
func TestSurviveBrokenStderr(t *testing.T) {
	if mode := os.Getenv("BERTH_TEST_BROKEN_STDERR"); mode != "" {
		if mode == "survive" {
			surviveBrokenStderr()
		}
		_, err := os.Stderr.WriteString("into a closed FIFO\n")
		if !errors.Is(err, syscall.EPIPE) {
			os.Exit(3)
		}
		os.Exit(0)
	}
	for _, tc := range []struct {
		mode     string
		survives bool
	}{{"default", false}, {"survive", true}} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		cmd := exec.Command(os.Args[0], "-test.run=^TestSurviveBrokenStderr$")
		cmd.Env = append(os.Environ(), "BERTH_TEST_BROKEN_STDERR="+tc.mode)
		cmd.Stderr = w
		err = cmd.Run()
		w.Close()
		var ee *exec.ExitError
		switch {
		case tc.survives && err != nil:
			t.Errorf("%s: %v, want exit 0", tc.mode, err)
		case !tc.survives && !(errors.As(err, &ee) && ee.ProcessState.Sys().(syscall.WaitStatus).Signal() == syscall.SIGPIPE):
			t.Errorf("%s: %v, want death by SIGPIPE", tc.mode, err)
		}
	}
}
