package crienv

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
)

// criVersionMethod is the CRI's RuntimeService.Version. Its request and
// response are sent here as empty messages: an empty VersionRequest is
// empty on the wire, and the response's fields are not read.
const criVersionMethod = "/runtime.v1.RuntimeService/Version"

// waitCRI waits until containerd's CRI plugin answers on socket, for up
// to timeout. containerd listens before its CRI plugin has restored its
// pods; until then every CRI call fails with "server is not initialized
// yet", which a kubelet retries and a test's crictl does not.
func waitCRI(ctx context.Context, socket string, timeout time.Duration) error {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("a CRI client for %s: %w", socket, err)
	}
	defer conn.Close()
	var last error
	err = waitFor(ctx, timeout, func() bool {
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		last = conn.Invoke(callCtx, criVersionMethod, &emptypb.Empty{}, &emptypb.Empty{})
		return last == nil
	}, "containerd's CRI on "+socket)
	if err != nil {
		return fmt.Errorf("%w (last answer: %v)", err, last)
	}
	return nil
}
