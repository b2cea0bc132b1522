// Command mkimage writes a busybox OCI image layout tar, for
// `ctr image import`:
//
//	mkimage FILE
package main

import (
	"fmt"
	"os"

	"github.com/berth-oci/berth/integration/busybox"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkimage FILE")
		os.Exit(2)
	}
	if err := busybox.WriteImage(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}
