package spec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func bundleWithRootfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestValidate(t *testing.T) {
	neg := int64(-5)
	tests := []struct {
		name  string
		opts  []Option
		edit  func(*specs.Spec)
		field string // "" means valid
	}{
		{name: "default is valid"},
		{name: "version 1.0.2", edit: func(s *specs.Spec) { s.Version = "1.0.2" }},
		{name: "version 1.3.0-rc.1", edit: func(s *specs.Spec) { s.Version = "1.3.0-rc.1" }},
		// runc checks no version: any, or none, runs.
		{name: "version 1.4.0", edit: func(s *specs.Spec) { s.Version = "1.4.0" }},
		{name: "version 2.0.0", edit: func(s *specs.Spec) { s.Version = "2.0.0" }},
		{name: "version garbage", edit: func(s *specs.Spec) { s.Version = "one" }},
		{name: "version empty", edit: func(s *specs.Spec) { s.Version = "" }},
		{name: "no root", edit: func(s *specs.Spec) { s.Root = nil }, field: "root.path"},
		{name: "missing rootfs", opts: []Option{WithRootPath("nope")}, field: "root.path"},
		{name: "rootfs is a file", opts: []Option{WithRootPath("config.json")}, field: "root.path"},
		{name: "no process", edit: func(s *specs.Spec) { s.Process = nil }, field: "process"},
		{name: "empty args", opts: []Option{WithArgs()}, field: "process.args"},
		{name: "relative cwd", opts: []Option{WithCwd("tmp")}, field: "process.cwd"},
		{name: "empty cwd", opts: []Option{WithCwd("")}, field: "process.cwd"},
		{name: "env without =", edit: func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "NOEQUALS") }, field: "process.env[2]"},
		{name: "unknown capability names (runc warns and ignores them)", opts: []Option{WithCapabilities("CAP_KILL", "kill", "UNKNOWN_CAP", "CAP_UNKNOWN")}},
		{name: "unknown rlimit", edit: func(s *specs.Spec) { s.Process.Rlimits[0].Type = "RLIMIT_BOGUS" }, field: "process.rlimits[0].type"},
		{name: "duplicate rlimit", edit: func(s *specs.Spec) { s.Process.Rlimits = append(s.Process.Rlimits, s.Process.Rlimits[0]) }, field: "process.rlimits[1].type"},
		{name: "soft above hard", edit: func(s *specs.Spec) { s.Process.Rlimits[0].Soft = 2048 }, field: "process.rlimits[0].soft"},
		{name: "mount without destination", opts: []Option{WithMounts(specs.Mount{Type: "tmpfs", Source: "tmpfs"})}, field: "mounts[7].destination"},
		{name: "no linux", edit: func(s *specs.Spec) { s.Linux = nil }, field: "linux"},
		{name: "unknown namespace", opts: []Option{WithNamespaces(specs.LinuxNamespace{Type: "uts"}, specs.LinuxNamespace{Type: "bogus"})}, field: "linux.namespaces[1].type"},
		{name: "duplicate namespace", opts: []Option{WithNamespaces(specs.LinuxNamespace{Type: "uts"}, specs.LinuxNamespace{Type: "uts"})}, field: "linux.namespaces[1].type"},
		{name: "hostname without uts", opts: []Option{WithoutNamespace(specs.UTSNamespace), WithHostname("h")}, field: "hostname"},
		{name: "no hostname without uts", opts: []Option{WithoutNamespace(specs.UTSNamespace)}},
		{name: "hostname in a joined uts namespace", opts: []Option{WithNamespaces(specs.LinuxNamespace{Type: "uts", Path: "/proc/1/ns/uts"}), WithHostname("h")}},
		{name: "negative memory", opts: []Option{WithMemoryLimit(-5)}, field: "linux.resources.memory.limit"},
		{name: "unlimited memory", opts: []Option{WithMemoryLimit(-1)}},
		{name: "negative quota", opts: []Option{WithCPUQuota(-5, 100000)}, field: "linux.resources.cpu.quota"},
		{name: "negative pids", edit: func(s *specs.Spec) { s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &neg} }, field: "linux.resources.pids.limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := bundleWithRootfs(t)
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
			s := New(tc.opts...)
			if tc.edit != nil {
				tc.edit(s)
			}
			err := Validate(s, dir)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, tc.field) {
				t.Fatalf("error %v, want one about %s", err, tc.field)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		bundle  func(t *testing.T) string
		content string
		want    string // substring of the error; "" means success
		// readOK: Read, which does not validate, accepts it.
		readOK bool
	}{
		{name: "valid", content: "default", readOK: true},
		{name: "relative bundle", bundle: func(*testing.T) string { return "rel/bundle" }, want: "path must be absolute"},
		{name: "missing bundle", bundle: func(t *testing.T) string { return filepath.Join(t.TempDir(), "x") }, want: "directory does not exist"},
		{name: "missing config", want: "config.json: file does not exist"},
		{name: "syntax error", content: "{\n\"ociVersion\": \"1.0.0\",\n}", want: "not valid JSON at line 3, column 1"},
		{name: "wrong type", content: `{"ociVersion": "1.0.0", "process": {"cwd": 7}}`, want: "process.cwd: expected string, got JSON number"},
		{name: "invalid field", content: `{"ociVersion": "1.0.0", "root": {"path": "rootfs"}}`, want: "process: must be present", readOK: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := bundleWithRootfs(t)
			if tc.bundle != nil {
				dir = tc.bundle(t)
			}
			content := tc.content
			if content == "default" {
				data, _ := jsonMarshal(New())
				content = string(data)
			}
			if content != "" {
				if err := os.WriteFile(filepath.Join(dir, ConfigName), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := Read(dir); (err == nil) != tc.readOK {
				t.Fatalf("Read: %v, want success %v", err, tc.readOK)
			}
			s, err := Load(dir)
			if tc.want == "" {
				if err != nil || s == nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v, want %q matching ErrInvalid", err, tc.want)
			}
		})
	}
}
