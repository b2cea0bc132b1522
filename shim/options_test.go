package shim

import (
	"testing"

	"github.com/berth-oci/berth/shim/options"
	bootstrap "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestStartOptions(t *testing.T) {
	ro := &runcoptions.Options{ShimCgroup: "/shims", CriuWorkPath: "/criu"}
	old, err := anypb.New(ro)
	if err != nil {
		t.Fatal(err)
	}
	old.TypeUrl = options.RuncOptionsType
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
	criAny.TypeUrl = options.RuntimeOptionsType
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
