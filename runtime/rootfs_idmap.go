package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// idMapping is a rootfs mount's uidmap= and gidmap= options, which
// containerd's snapshotters give for a user-namespaced pod: the layers must
// be seen through idmapped mounts, as containerd's own mount code does.
type idMapping struct {
	uids, gids []specs.LinuxIDMapping
}

// splitIDMapping takes uidmap= and gidmap= out of a mount's options.
func splitIDMapping(options []string) (idMapping, []string, error) {
	var m idMapping
	var rest []string
	for _, o := range options {
		var err error
		switch {
		case strings.HasPrefix(o, "uidmap="):
			m.uids, err = parseIDMappings(strings.TrimPrefix(o, "uidmap="))
		case strings.HasPrefix(o, "gidmap="):
			m.gids, err = parseIDMappings(strings.TrimPrefix(o, "gidmap="))
		default:
			rest = append(rest, o)
		}
		if err != nil {
			return m, nil, fmt.Errorf("mount option %q: %w", o, err)
		}
	}
	if (m.uids == nil) != (m.gids == nil) {
		return m, nil, fmt.Errorf("mount options: uidmap and gidmap go together")
	}
	return m, rest, nil
}

func (m idMapping) set() bool { return m.uids != nil }

// parseIDMappings parses "container:host:size[,container:host:size...]".
func parseIDMappings(s string) ([]specs.LinuxIDMapping, error) {
	var out []specs.LinuxIDMapping
	for _, part := range strings.Split(s, ",") {
		f := strings.Split(part, ":")
		if len(f) != 3 {
			return nil, fmt.Errorf("%q is not container-id:host-id:size", part)
		}
		var n [3]uint32
		for i, v := range f {
			u, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%q is not container-id:host-id:size", part)
			}
			n[i] = uint32(u)
		}
		out = append(out, specs.LinuxIDMapping{ContainerID: n[0], HostID: n[1], Size: n[2]})
	}
	return out, nil
}

// idmapMount attaches an idmapped clone of source at target.
func idmapMount(source, target string, userns *os.File, readonly bool) error {
	fd, err := unix.OpenTree(-1, source, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("open_tree %s: %w", source, err)
	}
	defer unix.Close(fd)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns.Fd())}
	if readonly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
		return fmt.Errorf("idmap %s: %w", source, err)
	}
	if err := unix.MoveMount(fd, "", -1, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach idmapped %s at %s: %w", source, target, err)
	}
	return nil
}

// idmapLowerdirs mounts each lowerdir of an overlay's data read-only and
// idmapped under dir, and returns the data with those paths instead, and
// a cleanup that detaches them: once the overlay is mounted it holds the
// layers itself.
func idmapLowerdirs(data string, m idMapping, dir string) (string, func(), error) {
	userns, err := newUserNamespace(m.uids, m.gids)
	if err != nil {
		return "", nil, err
	}
	defer userns.Close()
	var mounted []string
	cleanup := func() {
		for _, p := range mounted {
			_ = unix.Unmount(p, unix.MNT_DETACH)
		}
		_ = os.RemoveAll(dir)
	}
	opts := strings.Split(data, ",")
	for i, o := range opts {
		lower, ok := strings.CutPrefix(o, "lowerdir=")
		if !ok {
			continue
		}
		var mapped []string
		for j, l := range strings.Split(lower, ":") {
			p := filepath.Join(dir, strconv.Itoa(j))
			if err := os.MkdirAll(p, 0o700); err != nil {
				cleanup()
				return "", nil, err
			}
			if err := idmapMount(l, p, userns, true); err != nil {
				cleanup()
				return "", nil, err
			}
			mounted = append(mounted, p)
			mapped = append(mapped, p)
		}
		opts[i] = "lowerdir=" + strings.Join(mapped, ":")
	}
	return strings.Join(opts, ","), cleanup, nil
}
