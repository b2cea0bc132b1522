package shim

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Version is the shim's version, set by the binary.
var Version = "0.1.0-dev"

// Main runs the shim binary: the start, delete, -info and -v actions, or
// the daemon. It returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "containerd-shim-berth-v2:", err)
		return 2
	}
	ctx := context.Background()
	switch {
	case f.version:
		fmt.Fprintf(stdout, "containerd-shim-berth-v2:\n  Version: %s\n  Runtime: %s\n  Go version: %s\n  OCI spec: %s\n",
			Version, RuntimeName, runtime.Version(), specs.Version)
		return 0
	case f.info:
		err = printInfo(stdout)
	case f.action == "start":
		err = start(ctx, f, stdin, stdout)
	case f.action == "delete":
		err = cleanup(ctx, f, stdout)
	default:
		err = serve(ctx, f)
	}
	if err != nil {
		fmt.Fprintf(stderr, "containerd-shim-berth-v2: %v\n", err)
		return 1
	}
	return 0
}

// mainExe is the shim binary, re-executed as the daemon.
func mainExe() (string, error) {
	return os.Executable()
}
