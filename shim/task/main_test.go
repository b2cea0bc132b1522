package task

import (
	"fmt"
	"os"
	"testing"
)

// TestMain fails the package's tests if any of them made the shim refuse
// a transition its own logic had decided (process.move): that is a bug,
// whichever test met it.
func TestMain(m *testing.M) {
	code := m.Run()
	if n := refusedTransitions.Load(); n > 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the shim refused %d process transitions it had decided (see the BUG lines above)\n", n)
		code = 1
	}
	os.Exit(code)
}
