package stdio

import (
	"fmt"
	"os/exec"
)

// Env, in the shim's environment, chooses how a container's stdio
// reaches containerd's FIFOs and log files: "direct" hands them to the
// container (no copy in the shim), "pipes" gives the container pipes that
// the shim copies, as containerd's runc shim does. CRIU can checkpoint and
// restore only the pipes: a FIFO or file of the host is outside the
// container's mounts. The default, "", is pipes where the criu binary is
// on the shim's PATH (where containerd's CRI looks for it) and direct
// elsewhere, where no checkpoint can be taken anyway.
const Env = "BERTH_SHIM_STDIO"

// Values of Env.
const (
	ModeDirect = "direct"
	ModePipes  = "pipes"
)

// ThroughPipes reads Env's value v: whether containers get pipes.
func ThroughPipes(v string, lookPath func(string) (string, error)) (bool, error) {
	switch v {
	case ModeDirect:
		return false, nil
	case ModePipes:
		return true, nil
	case "":
		_, err := lookPath("criu")
		return err == nil, nil
	default:
		return false, fmt.Errorf("environment variable %s: %q is neither %q nor %q", Env, v, ModeDirect, ModePipes)
	}
}

// LookPath is exec.LookPath, as ThroughPipes takes it.
var LookPath = exec.LookPath
