package options

import (
	"testing"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// FuzzDecodeOptions feeds runtime options, as containerd sends them, to
// Decode and the option check: no panic; an Any that is neither
// runc's nor the CRI's runtimeoptions is ignored, and those two either
// decode or are refused.
func FuzzDecodeOptions(f *testing.F) {
	full, _ := proto.Marshal(&runcoptions.Options{NoPivotRoot: true, IoUid: 1000, IoGid: 1000, Root: "/run/x",
		SystemdCgroup: true, BinaryName: "runc", ShimCgroup: "/shim"})
	cri, _ := proto.Marshal(&runtimeoptions.Options{ConfigBody: []byte("SystemdCgroup = true\nIoUid = 1000\nRoot = '/run/x'\n")})
	for _, seed := range []struct {
		url   string
		value []byte
	}{
		{RuncOptionsType, full}, {RuncOptionsType, nil}, {RuncOptionsType, []byte{0xff, 0xff}},
		{RuntimeOptionsType, []byte{0x0a, 0x01, 'x'}}, {RuntimeOptionsType, cri}, {"", nil},
	} {
		f.Add(seed.url, seed.value)
	}
	f.Fuzz(func(t *testing.T, url string, value []byte) {
		o, err := Decode(&anypb.Any{TypeUrl: url, Value: value})
		if err != nil {
			if url != RuncOptionsType && url != RuntimeOptionsType {
				t.Fatalf("options of type %q refused: %v", url, err)
			}
			return
		}
		_ = o.Check()
		_ = o.IOOwner()
	})
}
