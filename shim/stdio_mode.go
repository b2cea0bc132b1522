package shim

import (
	"fmt"
	"os/exec"
)

// StdioEnv, in the shim's environment, chooses how a container's stdio
// reaches containerd's FIFOs and log files: "direct" hands them to the
// container (no copy in the shim), "pipes" gives the container pipes that
// the shim copies, as containerd's runc shim does. CRIU can checkpoint and
// restore only the pipes: a FIFO or file of the host is outside the
// container's mounts. The default, "", is pipes where the criu binary is
// on the shim's PATH (where containerd's CRI looks for it) and direct
// elsewhere, where no checkpoint can be taken anyway.
const StdioEnv = "BERTH_SHIM_STDIO"

// Values of StdioEnv.
const (
	StdioDirect = "direct"
	StdioPipes  = "pipes"
)

// stdioThroughPipes reads StdioEnv's value v: whether containers get pipes.
func stdioThroughPipes(v string, lookPath func(string) (string, error)) (bool, error) {
	switch v {
	case StdioDirect:
		return false, nil
	case StdioPipes:
		return true, nil
	case "":
		_, err := lookPath("criu")
		return err == nil, nil
	default:
		return false, fmt.Errorf("environment variable %s: %q is neither %q nor %q", StdioEnv, v, StdioDirect, StdioPipes)
	}
}

// defaultLookPath is exec.LookPath, as stdioThroughPipes takes it.
var defaultLookPath = exec.LookPath
