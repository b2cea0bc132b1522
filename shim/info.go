package shim

import (
	"encoding/json"
	"io"

	"github.com/containerd/containerd/api/types"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	berth "github.com/berth-oci/berth/runtime"
)

// featuresTypeURL is the type URL containerd expects for OCI features.
const featuresTypeURL = "types.containerd.io/opencontainers/runtime-spec/1/features/Features"

// printInfo is the -info action: RuntimeInfo as a protobuf on stdout.
func printInfo(stdout io.Writer) error {
	feat, err := json.Marshal(berth.Features())
	if err != nil {
		return err
	}
	info := &types.RuntimeInfo{
		Name:     RuntimeName,
		Version:  &types.RuntimeVersion{Version: Version},
		Features: &anypb.Any{TypeUrl: featuresTypeURL, Value: feat},
	}
	out, err := proto.Marshal(info)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}
