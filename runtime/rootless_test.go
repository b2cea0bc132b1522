package runtime

import (
	"errors"
	"testing"
)

// TestRootlessCgroupsDetection: runc's --rootless auto, rule by rule.
func TestRootlessCgroupsDetection(t *testing.T) {
	owner := func(uid int, err error) func() (int, error) { return func() (int, error) { return uid, err } }
	tests := []struct {
		name    string
		id      hostIdentity
		systemd bool
		want    bool
	}{
		{"unprivileged user", hostIdentity{euid: 1000}, false, true},
		{"root", hostIdentity{euid: 0}, true, false},
		{"root in a user namespace, cgroupfs", hostIdentity{euid: 0, inUserNS: true}, false, true},
		{"root in a user namespace, user's systemd", hostIdentity{euid: 0, inUserNS: true, systemdUID: owner(1000, nil)}, true, true},
		{"root in a user namespace, root's systemd", hostIdentity{euid: 0, inUserNS: true, systemdUID: owner(0, nil)}, true, false},
		{"root in a user namespace, systemd unknown", hostIdentity{euid: 0, inUserNS: true, systemdUID: owner(0, errors.New("no bus"))}, true, false},
	}
	for _, tc := range tests {
		if got := tc.id.rootlessCgroups(tc.systemd); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	on, off := true, false
	for _, set := range []*bool{&on, &off} {
		r, err := New("/run/x", WithRootlessCgroups(set))
		if err != nil || r.useRootlessCgroups() != *set {
			t.Errorf("WithRootlessCgroups(%v): %v %v", *set, r.useRootlessCgroups(), err)
		}
	}
}
