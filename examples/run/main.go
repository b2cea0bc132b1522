// Command run is the smallest program that runs an OCI bundle with berth's
// library: it runs the bundle's process with this program's stdio, waits,
// deletes the container and exits with the container's exit code.
//
//	run [-root DIR] BUNDLE [ID]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	berth "github.com/berth-oci/berth/runtime"
)

func init() {
	// The container's init is this program re-executed: let it take over.
	berth.Init()
}

func main() {
	root := flag.String("root", "/run/berth-example", "state directory")
	flag.Parse()
	if flag.NArg() < 1 || flag.NArg() > 2 {
		fmt.Fprintln(os.Stderr, "usage: run [-root DIR] BUNDLE [ID]")
		os.Exit(2)
	}
	id := "example"
	if flag.NArg() == 2 {
		id = flag.Arg(1)
	}
	code, err := run(*root, flag.Arg(0), id)
	if err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(root, bundle, id string) (int, error) {
	// The library takes absolute paths only; resolving is the caller's job.
	root, err := filepath.Abs(root)
	if err != nil {
		return 0, err
	}
	bundle, err = filepath.Abs(bundle)
	if err != nil {
		return 0, err
	}
	rt, err := berth.New(root)
	if err != nil {
		return 0, err
	}
	ctx := context.Background()
	c, err := rt.Run(ctx, id, berth.CreateOpts{
		Bundle: bundle,
		IO:     berth.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr},
	})
	if err != nil {
		return 0, err
	}
	status, err := c.Wait(ctx)
	if err != nil {
		return 0, err
	}
	if err := c.Delete(ctx, false); err != nil {
		return 0, err
	}
	return status.Code, nil
}
