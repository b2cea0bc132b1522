// Command nonewprivs stands in for the nonewprivs test image: installed
// setuid root, it prints the effective uid it runs with, which stays the
// caller's under no_new_privs.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("Effective uid: %d\n", os.Geteuid())
}
