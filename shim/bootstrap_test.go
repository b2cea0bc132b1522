package shim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	bootstrap "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestParseBootstrapParams(t *testing.T) {
	f := &flags{id: "c1", namespace: "ns"}
	params, _ := proto.Marshal(&bootstrap.BootstrapParams{InstanceID: "c1", Namespace: "ns", SocketDir: proto.String("/run/s")})
	otherID, _ := proto.Marshal(&bootstrap.BootstrapParams{InstanceID: "c2", Namespace: "ns"})
	opts, _ := proto.Marshal(&runcoptions.Options{SystemdCgroup: true})
	legacy, _ := proto.Marshal(&anypb.Any{TypeUrl: "containerd.runc.v1.Options", Value: opts})
	tests := []struct {
		name  string
		input []byte
		want  bool
	}{
		{"2.3 params", params, true},
		{"params for another instance", otherID, false},
		{"legacy runtime options Any", legacy, false},
		{"empty", nil, false},
		{"garbage", []byte{0xff, 0xff, 0xff}, false},
	}
	for _, tc := range tests {
		p := parseBootstrapParams(tc.input, f)
		if (p != nil) != tc.want {
			t.Errorf("%s: got params %v", tc.name, p)
		}
	}
	if p := parseBootstrapParams(params, f); p.GetSocketDir() != "/run/s" {
		t.Errorf("socket dir %q", p.GetSocketDir())
	}
}

func TestSocketAddress(t *testing.T) {
	a1, err := socketAddress(defaultSocketDir, "/run/containerd/containerd.sock", "k8s.io", "pod1")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := socketAddress(defaultSocketDir, "/run/containerd/containerd.sock", "k8s.io", "pod1")
	a3, _ := socketAddress(defaultSocketDir, "/run/containerd/containerd.sock", "k8s.io", "pod2")
	if a1 != a2 || a1 == a3 || !strings.HasPrefix(a1, "unix:///run/containerd/s/") {
		t.Fatalf("addresses %s %s %s", a1, a2, a3)
	}
	if _, err := socketAddress("/"+strings.Repeat("d", 100), "a", "b", "c"); err == nil {
		t.Fatal("a socket path over the limit was accepted")
	}
}

func TestGroupOf(t *testing.T) {
	tests := []struct {
		config     string
		podsShared bool
		want       string
		wantErr    bool
	}{
		{config: `{"annotations": {"io.containerd.runc.v2.group": "g1", "io.kubernetes.cri.sandbox-id": "sb"}}`, want: "g1"},
		{config: `{"annotations": {"io.kubernetes.cri.sandbox-id": "sb", "io.containerd.berth.v2.shim": "per-container"}}`, want: "sb"},
		{config: `{"annotations": {"io.kubernetes.cri.sandbox-id": "sb"}}`, want: "sb"},
		{config: `{"annotations": {"io.kubernetes.cri.sandbox-id": "sb"}}`, podsShared: true, want: ""},
		{config: `{"annotations": {"io.containerd.runc.v2.group": "g1", "io.kubernetes.cri.sandbox-id": "sb"}}`, podsShared: true, want: "g1"},
		{config: `{"annotations": {"io.kubernetes.cri.sandbox-id": "sb", "io.containerd.berth.v2.shim": "per-container"}}`, podsShared: true, want: "id"},
		{config: `{"annotations": {}}`, want: ""},
		{config: `{"annotations": {"io.containerd.berth.v2.shim": "shared"}}`, want: ""},
		{config: `{"annotations": {"io.containerd.berth.v2.shim": "per-container"}}`, want: "id"},
		{config: `{"annotations": {"io.containerd.berth.v2.shim": "alone"}}`, wantErr: true},
		{config: `not json`, want: "id"},
	}
	for _, tc := range tests {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.config), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := groupOf(dir, "id", tc.podsShared)
		if tc.wantErr {
			if err == nil || !strings.Contains(err.Error(), "io.containerd.berth.v2.shim") {
				t.Errorf("groupOf(%s): error %v, want one naming the annotation", tc.config, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("groupOf(%s) = %q, %v; want %q", tc.config, got, err, tc.want)
		}
	}
	if got, err := groupOf(t.TempDir(), "id", false); got != "id" || err != nil {
		t.Errorf("no config: %q, %v", got, err)
	}
}

func TestPodDaemonShared(t *testing.T) {
	for _, tc := range []struct {
		value   string
		shared  bool
		wantErr bool
	}{
		{"", false, false},
		{"per-pod", false, false},
		{"shared", true, false},
		{"per-container", false, true},
	} {
		shared, err := podDaemonShared(tc.value)
		if tc.wantErr {
			if err == nil || !strings.Contains(err.Error(), PodDaemonEnv) {
				t.Errorf("%q: error %v, want one naming %s", tc.value, err, PodDaemonEnv)
			}
			continue
		}
		if err != nil || shared != tc.shared {
			t.Errorf("%q: %v, %v; want %v", tc.value, shared, err, tc.shared)
		}
	}
}
