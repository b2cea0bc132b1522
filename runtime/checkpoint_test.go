package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCheckpointOptsCriu: the options become CRIU's as runc's checkpoint
// and restore make them (the network namespace always empty), and bad
// ones are refused naming the field, before anything is made.
func TestCheckpointOptsCriu(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "img")
	status, err := os.CreateTemp(dir, "status")
	if err != nil {
		t.Fatal(err)
	}
	defer status.Close()

	o := CheckpointOpts{ImagePath: img, EmptyNamespaces: []string{"network"}, PageServer: "10.0.0.1:27",
		LazyPages: true, StatusFile: status, AutoDedup: true, LSMProfile: "apparmor:p"}
	c, err := o.criu()
	if err != nil {
		t.Fatal(err)
	}
	if c.EmptyNs != unix.CLONE_NEWNET || c.PageServer.Address != "10.0.0.1" || c.PageServer.Port != 27 ||
		c.StatusFd != int(status.Fd()) || !c.LazyPages || !c.AutoDedup || c.LsmProfile != "apparmor:p" {
		t.Errorf("criu opts: %+v", c)
	}
	if c, err := (CheckpointOpts{ImagePath: img}).criu(); err != nil || c.EmptyNs != unix.CLONE_NEWNET || c.StatusFd != -1 {
		t.Errorf("defaults: %+v %v; want network empty, no status fd", c, err)
	}

	bad := []struct {
		name string
		o    CheckpointOpts
		says string
	}{
		{"relative image", CheckpointOpts{ImagePath: "img"}, "image path"},
		{"relative work", CheckpointOpts{ImagePath: img, WorkPath: "w"}, "work path"},
		{"absolute parent", CheckpointOpts{ImagePath: img, ParentPath: "/p"}, "parent path"},
		{"cgroups mode", CheckpointOpts{ImagePath: img, ManageCgroupsMode: "loose"}, "cgroups manage mode"},
		{"empty pid ns", CheckpointOpts{ImagePath: img, EmptyNamespaces: []string{"pid"}}, `empty namespace "pid"`},
		{"page server without port", CheckpointOpts{ImagePath: img, PageServer: "10.0.0.1"}, "page server"},
		{"page server port", CheckpointOpts{ImagePath: img, PageServer: "h:99999"}, "page server"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			fresh := filepath.Join(t.TempDir(), "img")
			if tc.o.ImagePath == img {
				tc.o.ImagePath = fresh
			}
			_, err := tc.o.criu()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%v; want ErrInvalid naming %q", err, tc.says)
			}
			if _, serr := os.Stat(fresh); serr == nil {
				t.Errorf("image directory made for refused options")
			}
		})
	}
}
