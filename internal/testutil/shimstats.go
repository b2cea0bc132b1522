package testutil

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// ShimStats decodes into v the figures of the berth shim daemon at address
// (unix://...): its Group service's Stats, JSON (pid, tasks, fds,
// goroutines, generation, upgrade_error, ...).
func ShimStats(address string, v any) error {
	conn, err := net.Dial("unix", strings.TrimPrefix(address, "unix://"))
	if err != nil {
		return err
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()
	var resp wrapperspb.StringValue
	if err := client.Call(context.Background(), "berth.shim.v1.Group", "Stats", &emptypb.Empty{}, &resp); err != nil {
		return fmt.Errorf("daemon stats: %w", err)
	}
	return json.Unmarshal([]byte(resp.GetValue()), v)
}

// ShimSocketOf returns the -socket address in a shim daemon's command
// line.
func ShimSocketOf(pid int) (string, error) {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "", err
	}
	args := strings.Split(string(cmdline), "\x00")
	for i, a := range args {
		if a == "-socket" && i+1 < len(args) {
			return args[i+1], nil
		}
	}
	return "", fmt.Errorf("process %d has no -socket in its command line", pid)
}
