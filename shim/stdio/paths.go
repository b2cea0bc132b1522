package stdio

import "net/url"

// Paths is where containerd wants a process's stdio: FIFO paths (or
// fifo:// URIs), or for stdout a file:// or binary:// URI for both outputs;
// empty for none. A plain value, as containerd's pkg/stdio: the process
// keeps it for State from Exec on, before anything is opened (stdio).
type Paths struct {
	Stdin, Stdout, Stderr string
	Terminal              bool
}

// stripFifo returns the path of a fifo:// URI, and any other path as it is.
func stripFifo(p string) string {
	if u, err := url.Parse(p); err == nil && u.Scheme == "fifo" {
		return u.Path
	}
	return p
}
