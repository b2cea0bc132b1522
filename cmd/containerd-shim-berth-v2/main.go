// Command containerd-shim-berth-v2 is berth's containerd runtime v2 shim,
// runtime type io.containerd.berth.v2.
package main

import (
	"os"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/shim"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func init() {
	// Must come first: container inits are this binary re-executed.
	berth.Init()
}

func main() {
	shim.Version = version
	os.Exit(shim.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
