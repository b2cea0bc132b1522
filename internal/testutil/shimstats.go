package testutil

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

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

// UpgradeShimInPlace sends SIGHUP to the berth shim daemon shim and waits
// up to 30 s for its stats to show it serving as the next generation; it
// fails the test if the upgrade was given up. what names the daemon in
// the failures.
func UpgradeShimInPlace(t testing.TB, shim int, what string) {
	t.Helper()
	socket, err := ShimSocketOf(shim)
	if err != nil {
		t.Fatal(err)
	}
	type stats struct {
		Generation   int    `json:"generation"`
		UpgradeError string `json:"upgrade_error"`
	}
	var before stats
	if err := ShimStats(socket, &before); err != nil {
		t.Fatalf("%s before its upgrade: %v", what, err)
	}
	if err := syscall.Kill(shim, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var st stats
	for {
		time.Sleep(100 * time.Millisecond)
		st = stats{}
		err := ShimStats(socket, &st)
		if err == nil && (st.Generation > before.Generation || st.UpgradeError != "") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not upgrade in 30s: %+v, %v", what, st, err)
		}
	}
	if st.Generation != before.Generation+1 {
		t.Fatalf("%s gave up its upgrade: %s", what, st.UpgradeError)
	}
}
