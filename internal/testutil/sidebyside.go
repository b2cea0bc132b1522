package testutil

import (
	"fmt"
	"testing"
)

// Expected is one check of a side-by-side lane: its name and the outcome
// that passes it.
type Expected struct {
	Name, Want string
}

// CompareToReference compares, check by check, the outcomes of the
// reference runtime (runc) and of berth, in the order of checks. A check
// that runc passes and berth does not fails the test; one runc fails too
// is logged with both outcomes. It prints the lane's counts for both.
func CompareToReference(tb testing.TB, lane string, checks []Expected, runc, berth []string) {
	tb.Helper()
	if len(runc) != len(checks) || len(berth) != len(checks) {
		tb.Fatalf("%s: %d checks, %d outcomes from runc, %d from berth", lane, len(checks), len(runc), len(berth))
	}
	runcPassed, berthPassed := 0, 0
	for i, c := range checks {
		runcOK, berthOK := runc[i] == c.Want, berth[i] == c.Want
		if runcOK {
			runcPassed++
		}
		if berthOK {
			berthPassed++
		}
		switch {
		case runcOK && !berthOK:
			tb.Errorf("%s: berth gave %q, runc gave %q (want %q)", c.Name, berth[i], runc[i], c.Want)
		case !runcOK:
			tb.Logf("%s: runc fails it too here: runc %q, berth %q (want %q)", c.Name, runc[i], berth[i], c.Want)
		default:
			tb.Logf("%s: ok with both", c.Name)
		}
	}
	fmt.Printf("%s: runc %d passed, %d failed; berth %d passed, %d failed\n",
		lane, runcPassed, len(checks)-runcPassed, berthPassed, len(checks)-berthPassed)
}
