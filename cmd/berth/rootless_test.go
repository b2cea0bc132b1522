package main

import (
	"flag"
	"testing"

	"github.com/urfave/cli"
)

// TestDefaultStateRoot: the default --root is runc's rule with berth's
// name: $XDG_RUNTIME_DIR/berth for an unprivileged user, and for root in a
// user namespace unless $USER is root; /run/berth otherwise.
func TestDefaultStateRoot(t *testing.T) {
	tests := []struct {
		name     string
		euid     int
		inUserNS bool
		xdg      string
		user     *string
		want     string
		wantXDG  bool
	}{
		{"root", 0, false, "/run/user/0", nil, "/run/berth", false},
		{"user", 1000, false, "/run/user/1000", nil, "/run/user/1000/berth", true},
		{"user without XDG_RUNTIME_DIR", 1000, false, "", nil, "/run/berth", false},
		{"root in a user namespace", 0, true, "/run/user/1000", strPtr("alice"), "/run/user/1000/berth", true},
		{"root in a user namespace, USER unset", 0, true, "/run/user/1000", nil, "/run/user/1000/berth", true},
		{"root in a user namespace as root", 0, true, "/run/user/0", strPtr("root"), "/run/berth", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "XDG_RUNTIME_DIR" {
					return tc.xdg
				}
				return ""
			}
			lookup := func(k string) (string, bool) {
				if k == "USER" && tc.user != nil {
					return *tc.user, true
				}
				return "", false
			}
			root, xdg := defaultStateRoot(tc.euid, tc.inUserNS, getenv, lookup)
			if root != tc.want || xdg != tc.wantXDG {
				t.Errorf("%s %v, want %s %v", root, xdg, tc.want, tc.wantXDG)
			}
		})
	}
}

func strPtr(s string) *string { return &s }

// TestRootlessFlag: --rootless takes true, false (as strconv reads them,
// 1 and 0 too) and auto, as runc's; anything else is an error naming it.
func TestRootlessFlag(t *testing.T) {
	tests := []struct {
		v       string
		want    *bool
		wantErr bool
	}{
		{"auto", nil, false}, {"", nil, false}, {"true", boolPtr(true), false}, {"false", boolPtr(false), false},
		{"1", boolPtr(true), false}, {"maybe", nil, true},
	}
	for _, tc := range tests {
		set := flag.NewFlagSet("berth", flag.ContinueOnError)
		set.String("rootless", "auto", "")
		if err := set.Parse([]string{"--rootless=" + tc.v}); err != nil {
			t.Fatal(err)
		}
		got, err := rootlessFlag(cli.NewContext(nil, set, nil))
		if (err != nil) != tc.wantErr || (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("--rootless=%s: %v %v, want %v (error %v)", tc.v, deref(got), err, deref(tc.want), tc.wantErr)
		}
	}
}

func boolPtr(b bool) *bool { return &b }

func deref(b *bool) any {
	if b == nil {
		return "auto"
	}
	return *b
}
