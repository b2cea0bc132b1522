package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-oci/berth/spec"
)

// userNamespace maps container ids 0-65535 to host ids 100000-165535.
var userNamespaceMapping = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}

func withUserNamespace(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = userNamespaceMapping
	s.Linux.GIDMappings = userNamespaceMapping
}

// withVolume bind-mounts dir at /vol, idmapped with the user namespace's
// mapping when idmap.
func withVolume(dir string, idmap bool) spec.Option {
	return func(s *specs.Spec) {
		m := specs.Mount{Destination: "/vol", Type: "bind", Source: dir, Options: []string{"rbind", "rw"}}
		if idmap {
			m.UIDMappings, m.GIDMappings = userNamespaceMapping, userNamespaceMapping
		}
		s.Mounts = append(s.Mounts, m)
	}
}

// openToAll makes dir and its parent searchable by everyone, so that a
// container whose root is another host uid reaches a bundle below them.
func openToAll(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestParityIDMappedMount: a user-namespaced container sees a host
// directory's root-owned file as its own root's through an idmapped bind
// mount, and as the overflow id without one; it can write there only
// through the idmapped mount. berth reports idmapped mounts in features.
func TestParityIDMappedMount(t *testing.T) {
	t.Parallel()
	script := `stat -c %u:%g /vol/file; touch /vol/new 2>/dev/null && echo writable || echo read-only`
	for _, tc := range []struct {
		name  string
		idmap bool
		want  string
	}{
		{"idmapped", true, "exit 0 0:0 writable"},
		{"plain bind", false, "exit 0 65534:65534 read-only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachRuntime(t, tc.want, func(t *testing.T, c *cli) string {
				vol := t.TempDir()
				openToAll(t, vol)
				if err := os.WriteFile(filepath.Join(vol, "file"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				bundle := newBundle(t, spec.WithArgs("sh", "-c", script), withUserNamespace, withVolume(vol, tc.idmap))
				openToAll(t, bundle)
				// The container's root cannot make the mount point itself.
				if err := os.Mkdir(filepath.Join(bundle, "rootfs", "vol"), 0o755); err != nil {
					t.Fatal(err)
				}
				r := c.run(nil, "run", "--bundle", bundle, uniqueID(t))
				return strings.TrimSpace(outcome(r) + " " + strings.ReplaceAll(strings.TrimSpace(r.Stdout), "\n", " ") + " " + strings.TrimSpace(r.Stderr))
			})
		})
	}
	c := newCLI(t)
	if out := c.ok("features"); !strings.Contains(out, `"idmap": {`) && !strings.Contains(out, `"idmap":{`) {
		t.Errorf("features do not report idmapped mounts: %s", out)
	}
}
