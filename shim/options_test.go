package shim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	bootstrap "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestStateRoot(t *testing.T) {
	dir := t.TempDir()
	withRoot := filepath.Join(dir, "custom")
	if err := os.MkdirAll(withRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeOptions(withRoot, taskOptions{Root: "/run/elsewhere"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ bundle, want string }{
		{"/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc", "/run/containerd/berth/k8s.io"},
		{"/tmp/x/state/io.containerd.runtime.v2.task/ns1/c1/", "/tmp/x/state/berth/ns1"},
		{"/tmp/x/state/io.containerd.runtime.v2.task/other/c1", "/run/containerd/berth/ns1"},
		{"/some/bundle", "/run/containerd/berth/ns1"},
		{withRoot, "/run/elsewhere/ns1"},
	}
	for _, tc := range tests {
		ns := "ns1"
		if filepath.Base(filepath.Dir(filepath.Clean(tc.bundle))) == "k8s.io" {
			ns = "k8s.io"
		}
		if got := stateRoot(tc.bundle, ns); got != tc.want {
			t.Errorf("stateRoot(%s, %s) = %s, want %s", tc.bundle, ns, got, tc.want)
		}
	}
}

// TestStartOptions: "start" finds runc's options in containerd 2.3+'s
// BootstrapParams and in the older form (an Any on stdin); anything else
// is the defaults.
func TestStartOptions(t *testing.T) {
	ro := &runcoptions.Options{ShimCgroup: "/shims", CriuWorkPath: "/criu"}
	old, err := anypb.New(ro)
	if err != nil {
		t.Fatal(err)
	}
	old.TypeUrl = runcOptionsType
	oldForm, _ := proto.Marshal(old)
	params := &bootstrap.BootstrapParams{InstanceID: "c1", Namespace: "ns"}
	if err := params.AddExtension(ro); err != nil {
		t.Fatal(err)
	}
	// berth's own runtime type gets the CRI's runtimeoptions, whose body is
	// the TOML of its options table.
	cri := &runtimeoptions.Options{ConfigBody: []byte("ShimCgroup = '/cri-shims'\n")}
	criAny, err := anypb.New(cri)
	if err != nil {
		t.Fatal(err)
	}
	criAny.TypeUrl = runtimeOptionsType
	criForm, _ := proto.Marshal(criAny)
	criParams := &bootstrap.BootstrapParams{InstanceID: "c1", Namespace: "ns"}
	if err := criParams.AddExtension(cri); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		input  []byte
		params *bootstrap.BootstrapParams
		want   string
	}{
		{"none", nil, nil, ""},
		{"older form", oldForm, nil, "/shims"},
		{"bootstrap params", nil, params, "/shims"},
		{"bootstrap params without options", nil, &bootstrap.BootstrapParams{InstanceID: "c1"}, ""},
		{"not options", []byte("garbage"), nil, ""},
		{"CRI's runtimeoptions, older form", criForm, nil, "/cri-shims"},
		{"CRI's runtimeoptions, bootstrap params", nil, criParams, "/cri-shims"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := startOptions(tc.input, tc.params)
			if err != nil || got.ShimCgroup != tc.want {
				t.Errorf("ShimCgroup %q (%v), want %q", got.ShimCgroup, err, tc.want)
			}
		})
	}
}

// TestCheckBinaryName: BinaryName is refused, naming the option; berth
// runs no runtime binary.
func TestCheckBinaryName(t *testing.T) {
	err := taskOptions{BinaryName: "/usr/bin/runc"}.check()
	if err == nil || !strings.Contains(err.Error(), "BinaryName") {
		t.Fatalf("%v; want a refusal naming BinaryName", err)
	}
	if err := (taskOptions{ShimCgroup: "/x", CriuWorkPath: "/w"}).check(); err != nil {
		t.Fatal(err)
	}
}
