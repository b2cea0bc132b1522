package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestShimDependencies: the shim binary links neither gRPC's server and
// client (with net/http; about 6 MB of binary and a daemon's PSS, see
// docs/performance.md) nor containerd's own packages of the task and
// sandbox APIs, whose protobuf registrations shim/internal/taskapi and
// sandboxapi make (scripts/gen-shimapi.sh): linked beside them, the
// registrations would conflict at start. gRPC's codes and status, which
// ttrpc uses, are allowed.
func TestShimDependencies(t *testing.T) {
	goBin := os.Getenv("BERTH_GO")
	if goBin == "" {
		goBin = "go" // go test puts GOROOT/bin first in PATH
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v: %s", err, out)
	}
	forbidden := map[string]bool{
		"google.golang.org/grpc": true,
		"net/http":               true,
		"github.com/containerd/containerd/api/runtime/task/v2":    true,
		"github.com/containerd/containerd/api/runtime/task/v3":    true,
		"github.com/containerd/containerd/api/runtime/sandbox/v1": true,
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps gave %d packages: %s", len(deps), out)
	}
	for _, d := range deps {
		if forbidden[d] {
			t.Errorf("the shim links %s", d)
		}
	}
}
