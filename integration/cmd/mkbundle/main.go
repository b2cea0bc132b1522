// Command mkbundle makes a busybox OCI bundle in a directory, for demos:
//
//	mkbundle DIR [ARG...]
//
// The container runs ARGs (default: sh) without a terminal.
package main

import (
	"fmt"
	"os"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/spec"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: mkbundle DIR [ARG...]")
		os.Exit(2)
	}
	var opts []spec.Option
	if len(os.Args) > 2 {
		opts = append(opts, spec.WithArgs(os.Args[2:]...))
	}
	if err := busybox.MakeBundle(os.Args[1], opts...); err != nil {
		fmt.Fprintln(os.Stderr, "mkbundle:", err)
		os.Exit(1)
	}
}
