package options

import (
	"strings"
	"testing"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	berth "github.com/berth-oci/berth/runtime"
)

func TestDecodeOptions(t *testing.T) {
	runc, _ := proto.Marshal(&runcoptions.Options{NoPivotRoot: true, IoUid: 7, IoGid: 8, Root: "/run/x", SystemdCgroup: true})
	tests := []struct {
		name string
		in   *anypb.Any
		want Options
		err  bool
	}{
		{"none", nil, Options{}, false},
		{"runc", &anypb.Any{TypeUrl: RuncOptionsType, Value: runc}, Options{NoPivotRoot: true, IoUID: 7, IoGID: 8, Root: "/run/x", SystemdCgroup: true}, false},
		{"cri runtimeoptions", &anypb.Any{TypeUrl: "runtimeoptions.v1.Options", Value: []byte{0x0a, 0x01, 'x'}}, Options{}, false},
		{"unknown", &anypb.Any{TypeUrl: "example.com/Whatever", Value: []byte{1, 2, 3}}, Options{}, false},
		{"corrupt runc", &anypb.Any{TypeUrl: RuncOptionsType, Value: []byte{0xff, 0xff}}, Options{}, true},
	}
	for _, tc := range tests {
		got, err := Decode(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: got %+v, %v", tc.name, got, err)
		}
	}
}

func TestOptionsCheck(t *testing.T) {
	if berth.SystemdAvailable() {
		t.Skip("systemd runs this host: SystemdCgroup can be honoured")
	}
	if err := (Options{}).Check(); err != nil {
		t.Errorf("cgroupfs: %v", err)
	}
	err := (Options{SystemdCgroup: true}).Check()
	if err == nil || !strings.Contains(err.Error(), "SystemdCgroup") {
		t.Errorf("SystemdCgroup without systemd: %v, want an error naming the option", err)
	}
}
