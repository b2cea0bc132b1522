package shim

import (
	"flag"
	"fmt"
	"io"
)

// flags are the command-line flags containerd passes to a shim binary.
type flags struct {
	namespace string
	address   string // containerd's gRPC socket
	id        string
	bundle    string
	socket    string // set by start for the daemon it spawns
	debug     bool
	info      bool
	version   bool
	action    string // "start", "delete", or "" for the daemon
}

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	var f flags
	fs := flag.NewFlagSet("containerd-shim-berth-v2", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.namespace, "namespace", "", "namespace that owns the shim")
	fs.StringVar(&f.address, "address", "", "grpc address back to main containerd")
	// Accepted as containerd passes it; events go over TTRPC_ADDRESS.
	fs.String("publish-binary", "", "path to publish binary (unused: events go over TTRPC_ADDRESS)")
	fs.StringVar(&f.id, "id", "", "id of the task")
	fs.StringVar(&f.bundle, "bundle", "", "path to the bundle if not workdir")
	fs.StringVar(&f.socket, "socket", "", "address the daemon serves on (set by start)")
	fs.BoolVar(&f.debug, "debug", false, "enable debug output in logs")
	fs.BoolVar(&f.info, "info", false, "print the runtime info and exit")
	fs.BoolVar(&f.version, "v", false, "show the shim version and exit")
	fs.BoolVar(&f.version, "version", false, "show the shim version and exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 1 {
		return nil, fmt.Errorf("expected at most one action (start or delete), got %q", fs.Args())
	}
	f.action = fs.Arg(0)
	if f.info || f.version {
		return &f, nil
	}
	switch f.action {
	case "start", "delete", "":
	default:
		return nil, fmt.Errorf("unknown action %q (expected start or delete)", f.action)
	}
	if f.namespace == "" {
		return nil, fmt.Errorf("-namespace is required")
	}
	if f.id == "" {
		return nil, fmt.Errorf("-id is required")
	}
	return &f, nil
}
