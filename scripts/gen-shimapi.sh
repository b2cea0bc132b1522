#!/usr/bin/env bash
# Generates the shim's copies of two containerd APIs (of
# github.com/containerd/containerd/api, the version in go.mod): their
# messages and ttrpc stubs, without the gRPC stubs that the upstream
# packages carry next to them and that link all of gRPC into the shim
# (docs/performance.md):
#   shim/internal/taskapi     runtime/task/v3/shim.proto
#   shim/internal/sandboxapi  runtime/sandbox/v1/sandbox.proto
# The names follow containerd's Go API (ID, ExecID, SandboxID,
# TTRPCTaskService), and the protobuf registrations are the same, so the
# wire format and type URLs are too; the shim must not link containerd's
# own packages of these APIs beside them (TestShimDependencies).
# Needs protoc (Debian's protobuf-compiler and libprotobuf-dev); installs
# protoc-gen-go and protoc-gen-go-ttrpc of the versions in go.mod into a
# temporary GOBIN.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
api=$($GO list -m -f '{{.Dir}}' github.com/containerd/containerd/api)
pbv=$($GO list -m -f '{{.Version}}' google.golang.org/protobuf)
ttrpcv=$($GO list -m -f '{{.Version}}' github.com/containerd/ttrpc)
bin=$(mktemp -d)
out=$(mktemp -d)
trap 'rm -rf "$bin" "$out"' EXIT
GOBIN=$bin GOFLAGS=-mod=mod $GO install "google.golang.org/protobuf/cmd/protoc-gen-go@$pbv"
GOBIN=$bin GOFLAGS=-mod=mod $GO install "github.com/containerd/ttrpc/cmd/protoc-gen-go-ttrpc@$ttrpcv"
types=github.com/containerd/containerd/api/types

# gen <proto> <package name> <files' base name>: generates
# shim/internal/<package name>/<base>.pb.go and <base>_ttrpc.pb.go.
gen() {
	local proto=$1 name=$2 base=$3
	local pkg=github.com/berth-oci/berth/shim/internal/$name
	local m="M$proto=$pkg;$name"
	for t in mount metrics platform sandbox; do
		m="$m,Mtypes/$t.proto=$types"
	done
	m="$m,Mtypes/task/task.proto=$types/task"
	PATH=$bin:$PATH protoc -I "$api" -I /usr/include \
		--go_out="$out" --go_opt="$m" \
		--go-ttrpc_out="$out" --go-ttrpc_opt="$m,prefix=TTRPC" \
		"$proto"
	mkdir -p "shim/internal/$name"
	for f in "$base.pb.go" "${base}_ttrpc.pb.go"; do
		# containerd's acronyms (its go-fix-acronym): Id -> ID in Go names only.
		sed -E 's/\b(Get)?(Exec|Sandbox)?Id\b/\1\2ID/g' "$out/$pkg/$f" > "shim/internal/$name/$f"
	done
	gofmt -l "shim/internal/$name"
}
gen runtime/task/v3/shim.proto taskapi shim
gen runtime/sandbox/v1/sandbox.proto sandboxapi sandbox
