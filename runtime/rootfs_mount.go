package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// RootfsMount is one mount of a container's root filesystem as a
// snapshotter gives it (containerd's types.Mount): a type (overlay, bind),
// a source, and options, flags and data alike. uidmap= and gidmap= options
// (a user-namespaced pod) have its layers seen through idmapped mounts.
type RootfsMount struct {
	Type    string
	Source  string
	Options []string
}

// MountRootfs mounts a container's root filesystem onto target, mount by
// mount in order, making target if needed; idmapped layers included. It is
// the one place rootfs mounts are made. On error it unmounts what it did.
func MountRootfs(mounts []RootfsMount, target string) (err error) {
	if len(mounts) == 0 {
		return nil
	}
	if err := os.MkdirAll(target, 0o711); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = UnmountRootfs(target)
		}
	}()
	for _, m := range mounts {
		if err := mountOne(m, target); err != nil {
			return fmt.Errorf("mount %s %s on %s: %w", m.Type, m.Source, target, err)
		}
	}
	return nil
}

// mountOne performs one mount, splitting its options into flags and data.
// With uidmap= and gidmap= options (a user-namespaced pod), an overlay's
// layers, or a bind mount itself, are seen through idmapped mounts.
func mountOne(m RootfsMount, target string) error {
	idmap, options, err := splitIDMapping(m.Options)
	if err != nil {
		return err
	}
	flags, data := parseMountOptions(options)
	typ := m.Type
	if flags&unix.MS_BIND != 0 || typ == "bind" {
		typ = ""
		flags |= unix.MS_BIND
	}
	if idmap.set() && typ == "overlay" {
		mapped, cleanup, err := idmapLowerdirs(data, idmap, filepath.Join(filepath.Dir(target), "idmapped-layers"))
		if err != nil {
			return err
		}
		defer cleanup()
		data = mapped
	}
	if err := unix.Mount(m.Source, target, typ, flags&^unix.MS_RDONLY, data); err != nil {
		return err
	}
	if idmap.set() && typ == "" {
		userns, err := newUserNamespace(idmap.uids, idmap.gids)
		if err != nil {
			return err
		}
		defer userns.Close()
		if err := idmapMount(target, target, userns, false); err != nil {
			return err
		}
	}
	// A bind mount becomes read-only only through a remount.
	if flags&unix.MS_BIND != 0 && flags&unix.MS_RDONLY != 0 {
		return unix.Mount("", target, "", flags|unix.MS_REMOUNT, "")
	}
	if flags&unix.MS_RDONLY != 0 && flags&unix.MS_BIND == 0 {
		return unix.Mount("", target, "", flags|unix.MS_REMOUNT, data)
	}
	return nil
}

var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"bind": {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"noatime": {false, unix.MS_NOATIME}, "relatime": {false, unix.MS_RELATIME},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
}

func parseMountOptions(options []string) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, o := range options {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		data = append(data, o)
	}
	return flags, strings.Join(data, ",")
}

// UnmountRootfs unmounts everything mounted at target, innermost first.
// It is idempotent: nothing mounted is not an error.
func UnmountRootfs(target string) error {
	for range 32 {
		err := unix.Unmount(target, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil // not a mount point (any more), or no directory
		}
		if err != nil {
			return err
		}
	}
	return fmt.Errorf("%s: still mounted after 32 unmounts", target)
}
