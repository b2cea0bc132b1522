package integration

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/berth-oci/berth/spec"
)

// TestInitBinarySealed guards against CVE-2019-5736: while a container is
// created (its init waits for start inside the container's namespaces),
// init runs a sealed read-only view of berth, not berth's file on disk, so
// nothing in the container can write through /proc/<init>/exe.
func TestInitBinarySealed(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	bundle := newBundle(t, spec.WithArgs("true"))
	id := uniqueID(t)
	c.ok("create", "--bundle", bundle, id)
	defer c.run(nil, "delete", "--force", id)
	exe := fmt.Sprintf("/proc/%d/exe", c.state(id).Pid)

	f, err := os.OpenFile(exe, os.O_WRONLY, 0)
	if err == nil {
		f.Close()
		t.Fatalf("%s opened for writing", exe)
	}
	if !errors.Is(err, syscall.EROFS) {
		t.Fatalf("open %s for writing: %v; want EROFS (a sealed, read-only copy)", exe, err)
	}
	var sealed, onDisk syscall.Stat_t
	if err := syscall.Stat(exe, &sealed); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(c.bin, &onDisk); err != nil {
		t.Fatal(err)
	}
	if sealed.Dev == onDisk.Dev && sealed.Ino == onDisk.Ino {
		t.Fatalf("container init runs %s itself", c.bin)
	}
}
