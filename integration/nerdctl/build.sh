#!/usr/bin/env bash
# Builds nerdctl (containerd's Docker-compatible CLI) VERSION from the Go
# module proxy into OUT. go install refuses it: its go.mod requires its test
# module github.com/containerd/nerdctl/mod/tigron v0.0.0 through a local
# replace, which the proxy does not serve, and v2.4.2 requires
# github.com/moby/moby/v2 v2.0.0-beta.28, which the proxy here refuses.
# So this script writes a small module of its own: it requires nerdctl,
# replaces tigron with a stub (a go.mod only: nerdctl's binary does not
# import it) and moby/moby/v2 with v2.0.0-beta.25. Rebuilt only when
# missing or when VERSION changes.
#   build.sh GO_BINARY OUT VERSION
set -euo pipefail
go=$1 out=$2 version=$3
stamp=$out/version
if [ -x "$out/nerdctl" ] && [ "$(cat "$stamp" 2> /dev/null)" = "$version" ]; then
	exit 0
fi
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
mod=$out/module
rm -rf "$mod" && mkdir -p "$mod/tigron"
echo "module github.com/containerd/nerdctl/mod/tigron" > "$mod/tigron/go.mod"
cat > "$mod/go.mod" << GOMOD
module berth.test/nerdctl-build

go 1.24

require github.com/containerd/nerdctl/v2 $version

replace (
	github.com/containerd/nerdctl/mod/tigron => ./tigron
	github.com/moby/moby/v2 => github.com/moby/moby/v2 v2.0.0-beta.25
)
GOMOD
cd "$mod"
"$go" get "github.com/containerd/nerdctl/v2@$version" ||
	{ echo "build.sh: the Go module proxy did not serve nerdctl $version or what it needs" >&2; exit 1; }
"$go" build -o "$out/nerdctl" github.com/containerd/nerdctl/v2/cmd/nerdctl
echo "$version" > "$stamp"
