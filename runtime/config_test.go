package runtime

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-oci/berth/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestToConfigIgnoresCwd: relative paths resolve against the bundle, and
// the bundle label names the bundle, wherever the process's cwd is.
func TestToConfigIgnoresCwd(t *testing.T) {
	bundle := t.TempDir()
	s := spec.New(
		spec.WithRootPath("rootfs"),
		spec.WithMounts(specs.Mount{Destination: "/data", Type: "bind", Source: "data", Options: []string{"rbind"}}),
		spec.WithMounts(specs.Mount{Destination: "/opt", Source: "opt", Options: []string{"bind", "ro"}}),
	)
	r, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cwd, _ := os.Getwd()
	cfg, err := r.toConfig("c1", bundle, s, configOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rootfs != filepath.Join(bundle, "rootfs") {
		t.Errorf("rootfs %s", cfg.Rootfs)
	}
	sources := map[string]string{}
	for _, m := range cfg.Mounts {
		sources[m.Destination] = m.Source
	}
	if sources["/data"] != filepath.Join(bundle, "data") || sources["/opt"] != filepath.Join(bundle, "opt") {
		t.Errorf("bind sources %v", sources)
	}
	if sources["/proc"] != "proc" {
		t.Errorf("non-bind source rewritten: %q", sources["/proc"])
	}
	if !slices.Contains(cfg.Labels, "bundle="+bundle) || (cwd != bundle && slices.Contains(cfg.Labels, "bundle="+cwd)) {
		t.Errorf("labels %v", cfg.Labels)
	}
	if s.Root.Path != "rootfs" || s.Mounts[len(s.Mounts)-1].Source != "opt" {
		t.Error("toConfig modified the caller's spec")
	}
}

// TestToConfigOwnDevices: each config has devices of its own. specconv
// shares its default devices between configs and writes a user
// namespace's root ids into them, so without copies a second conversion
// would change the first container's device owners.
func TestToConfigOwnDevices(t *testing.T) {
	r, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	withUserns := func(host uint32) spec.Option {
		return func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: host, Size: 65536}}
			s.Linux.UIDMappings, s.Linux.GIDMappings = m, m
		}
	}
	first, err := r.toConfig("c1", t.TempDir(), spec.New(withUserns(100000)), configOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.toConfig("c2", t.TempDir(), spec.New(withUserns(200000)), configOpts{}); err != nil {
		t.Fatal(err)
	}
	if len(first.Devices) == 0 {
		t.Fatal("no devices")
	}
	for _, d := range first.Devices {
		if d.Uid != 100000 || d.Gid != 100000 {
			t.Fatalf("device %s of the first container is owned by %d:%d after a second conversion, want 100000", d.Path, d.Uid, d.Gid)
		}
	}
}

// TestToConfigBundleAnnotationIgnored: a spec's "bundle" annotation (which
// runc honours, and so lists as potentially unsafe in features) does not
// change the bundle berth records: the one it was given.
func TestToConfigBundleAnnotationIgnored(t *testing.T) {
	bundle := t.TempDir()
	s := spec.New(spec.WithRootPath("rootfs"))
	s.Annotations = map[string]string{"bundle": "/elsewhere"}
	r, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := r.toConfig("c1", bundle, s, configOpts{})
	if err != nil {
		t.Fatal(err)
	}
	var bundles []string
	for _, l := range cfg.Labels {
		if v, ok := strings.CutPrefix(l, bundleLabel); ok {
			bundles = append(bundles, v)
		}
	}
	if !slices.Equal(bundles, []string{bundle}) {
		t.Errorf("bundle labels %v, want only %s", bundles, bundle)
	}
	for _, a := range Features().PotentiallyUnsafeConfigAnnotations {
		if a == "bundle" {
			t.Error(`features lists "bundle" as an annotation berth honours`)
		}
	}
}
