// Package fsutil holds the shim's small file helpers: writing the files
// it keeps in a bundle (its options, the daemon's address) so that a
// reader sees the old content or the new, never a part, and copying one.
package fsutil

import (
	"io"
	"os"
)

// WriteAtomic writes data to path through a temporary file and rename.
func WriteAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Copy copies from to to, made with mode.
func Copy(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
