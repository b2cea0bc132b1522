#!/usr/bin/env bash
# Generates shim/internal/taskapi: the messages and ttrpc stubs of
# containerd's task API v3 (runtime/task/v3/shim.proto of
# github.com/containerd/containerd/api, the version in go.mod), without
# the gRPC stubs that the upstream package carries next to them and that
# link all of gRPC into the shim (docs/performance.md). The names follow
# containerd's Go API (ID, ExecID, TTRPCTaskService), and the protobuf
# registrations are the same, so the wire format and type URLs are too.
# Needs protoc; installs protoc-gen-go and protoc-gen-go-ttrpc of the
# versions in go.mod into a temporary GOBIN.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
api=$($GO list -m -f '{{.Dir}}' github.com/containerd/containerd/api)
pbv=$($GO list -m -f '{{.Version}}' google.golang.org/protobuf)
ttrpcv=$($GO list -m -f '{{.Version}}' github.com/containerd/ttrpc)
bin=$(mktemp -d)
trap 'rm -rf "$bin" "$out"' EXIT
out=$(mktemp -d)
GOBIN=$bin GOFLAGS=-mod=mod $GO install "google.golang.org/protobuf/cmd/protoc-gen-go@$pbv"
GOBIN=$bin GOFLAGS=-mod=mod $GO install "github.com/containerd/ttrpc/cmd/protoc-gen-go-ttrpc@$ttrpcv"
pkg=github.com/berth-oci/berth/shim/internal/taskapi
m="Mruntime/task/v3/shim.proto=$pkg;taskapi,Mtypes/mount.proto=github.com/containerd/containerd/api/types,Mtypes/task/task.proto=github.com/containerd/containerd/api/types/task"
PATH=$bin:$PATH protoc -I "$api" -I /usr/include \
	--go_out="$out" --go_opt="$m" \
	--go-ttrpc_out="$out" --go-ttrpc_opt="$m,prefix=TTRPC" \
	runtime/task/v3/shim.proto
mkdir -p shim/internal/taskapi
for f in shim.pb.go shim_ttrpc.pb.go; do
	# containerd's acronyms (its go-fix-acronym): Id -> ID in Go names only.
	sed -E 's/\b(Get)?(Exec)?Id\b/\1\2ID/g' "$out/$pkg/$f" > "shim/internal/taskapi/$f"
done
gofmt -l shim/internal/taskapi
