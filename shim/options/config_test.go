package options

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestConfigOptions(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Options
		err  string // part of the error, "" for none
	}{
		{"empty", "", Options{}, ""},
		// What containerd 2.2's CRI writes (go-toml v2) for a runtime's
		// options table.
		{"containerd's TOML", "BinaryName = ''\nIoUid = 1000\nRoot = '/run/x y'\nSystemdCgroup = true\nTypeUrl = 'x'\n",
			Options{IoUID: 1000, Root: "/run/x y", SystemdCgroup: true}, ""},
		{"basic string with escapes", `CriuWorkPath = "a'b\"c" # a comment`, Options{CriuWorkPath: `a'b"c`}, ""},
		{"comments and blanks", "# berth\n\n  NoPivotRoot = true # yes\n", Options{NoPivotRoot: true}, ""},
		{"quoted key", `"ShimCgroup" = '/berth'`, Options{ShimCgroup: "/berth"}, ""},
		{"wrong type", "SystemdCgroup = 'yes'", Options{}, "runtime option SystemdCgroup: want true or false"},
		{"negative uid", "IoUid = -1", Options{}, "runtime option IoUid"},
		{"table", "[options]\nSystemdCgroup = true", Options{}, "line 1"},
		{"not a value", "Root = /run", Options{}, "line 1"},
		{"unterminated", "Root = '/run", Options{}, "unterminated"},
		{"multi-line", `Root = """x`, Options{}, "multi-line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromConfig(&runtimeoptions.Options{ConfigBody: []byte(tc.body)})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestConfigOptionsPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berth.toml")
	if err := os.WriteFile(path, []byte("SystemdCgroup = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// ConfigPath wins over the body, as containerd fills the body only
	// where there is no path.
	value, _ := proto.Marshal(&runtimeoptions.Options{ConfigPath: path, ConfigBody: []byte("NoPivotRoot = true")})
	got, err := Decode(&anypb.Any{TypeUrl: RuntimeOptionsType, Value: value})
	if err != nil || got != (Options{SystemdCgroup: true}) {
		t.Fatalf("got %+v, %v", got, err)
	}
	value, _ = proto.Marshal(&runtimeoptions.Options{ConfigPath: filepath.Join(t.TempDir(), "missing.toml")})
	if _, err := Decode(&anypb.Any{TypeUrl: RuntimeOptionsType, Value: value}); err == nil || !strings.Contains(err.Error(), "ConfigPath") {
		t.Fatalf("a missing ConfigPath: %v", err)
	}
}
