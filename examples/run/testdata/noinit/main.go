// Command noinit is a program that forgets runtime.Init: berth must refuse
// to create its container, naming Init, before anything is made (the tests
// of examples/run build it).
package main

import (
	"context"
	"fmt"
	"os"

	berth "github.com/berth-oci/berth/runtime"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: noinit ROOT BUNDLE")
		os.Exit(2)
	}
	// A side effect that a re-executed main would repeat.
	fmt.Println("main ran with", os.Args[1:])
	rt, err := berth.New(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if _, err := rt.Run(context.Background(), "noinit", berth.CreateOpts{Bundle: os.Args[2]}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("container created")
}
