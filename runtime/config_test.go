package runtime

import (
	"os"
	"path/filepath"
	"slices"
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
