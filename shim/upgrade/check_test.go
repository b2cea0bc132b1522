package upgrade

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	berth "github.com/berth-oci/berth/runtime"
)

// TestCheckNewBinaryUnderReaper: in a process whose reaper takes every
// child's exit, as the daemon's does, the new binary's -v is still waited
// for by its own check: without holding the reaper, the check fails now
// and then with ECHILD (the CI failure it fixes): the "unheld" run, a
// plain exec, shows how often (about 1 in 12 here), and the "held" run,
// the check itself, must never fail. The reaper lasts for the process, so
// each run is a child.
func TestCheckNewBinaryUnderReaper(t *testing.T) {
	const runs = 300
	if mode := os.Getenv("BERTH_TEST_CHECK_REAPER"); mode != "" {
		if err := berth.StartReaper(); err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		failed := 0
		for range runs {
			var err error
			if mode == "held" {
				err = checkNewBinary(context.Background(), "/bin/true")
			} else {
				_, err = exec.Command("/bin/true", "-v").CombinedOutput()
			}
			if err != nil {
				failed++
			}
		}
		fmt.Printf("failed %d of %d\n", failed, runs)
		os.Exit(0)
	}
	for _, mode := range []string{"held", "unheld"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCheckNewBinaryUnderReaper$")
		cmd.Env = append(os.Environ(), "BERTH_TEST_CHECK_REAPER="+mode)
		out, err := cmd.CombinedOutput()
		t.Logf("%s: %s", mode, out)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if mode == "held" && !strings.Contains(string(out), fmt.Sprintf("failed 0 of %d", runs)) {
			t.Errorf("the check failed under the reaper: %s", out)
		}
	}
}
