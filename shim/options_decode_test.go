package shim

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
		want taskOptions
		err  bool
	}{
		{"none", nil, taskOptions{}, false},
		{"runc", &anypb.Any{TypeUrl: runcOptionsType, Value: runc}, taskOptions{NoPivotRoot: true, IoUID: 7, IoGID: 8, Root: "/run/x", SystemdCgroup: true}, false},
		{"cri runtimeoptions", &anypb.Any{TypeUrl: "runtimeoptions.v1.Options", Value: []byte{0x0a, 0x01, 'x'}}, taskOptions{}, false},
		{"unknown", &anypb.Any{TypeUrl: "example.com/Whatever", Value: []byte{1, 2, 3}}, taskOptions{}, false},
		{"corrupt runc", &anypb.Any{TypeUrl: runcOptionsType, Value: []byte{0xff, 0xff}}, taskOptions{}, true},
	}
	for _, tc := range tests {
		got, err := decodeOptions(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: got %+v, %v", tc.name, got, err)
		}
	}
}

func TestOptionsCheck(t *testing.T) {
	if berth.SystemdAvailable() {
		t.Skip("systemd runs this host: SystemdCgroup can be honoured")
	}
	if err := (taskOptions{}).check(); err != nil {
		t.Errorf("cgroupfs: %v", err)
	}
	err := (taskOptions{SystemdCgroup: true}).check()
	if err == nil || !strings.Contains(err.Error(), "SystemdCgroup") {
		t.Errorf("SystemdCgroup without systemd: %v, want an error naming the option", err)
	}
}
