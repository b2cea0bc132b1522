#!/usr/bin/env bash
# Builds the kubelet, the node e2e suite (e2e_node.test), agnhost and the
# ginkgo CLI of the version the suite links (for parallel runs) from
# k8s.io/kubernetes as served by the Go module proxy, into OUT.
# k8s.io/kubernetes replaces each staging module (k8s.io/api, ...) with a
# ./staging path that its module zip does not carry, so go install refuses
# it. This script writes a small module of its own instead: it requires
# k8s.io/kubernetes VERSION and replaces every staging module named in that
# release's go.mod with its published v0.MINOR.PATCH. The binaries are
# rebuilt only when missing or when VERSION changes.
#   build.sh GO_BINARY OUT VERSION
set -euo pipefail
go=$1 out=$2 version=$3
stamp=$out/version
if [ -x "$out/kubelet" ] && [ -x "$out/e2e_node.test" ] && [ -x "$out/agnhost" ] && [ -x "$out/ginkgo" ] && [ -f "$out/localhost.key" ] &&
	[ "$(cat "$stamp" 2> /dev/null)" = "$version" ]; then
	exit 0
fi
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
mod=$out/module
rm -rf "$mod" && mkdir -p "$mod"
"$go" mod download -x "k8s.io/kubernetes@$version" > /dev/null 2>&1 ||
	{ echo "build.sh: the Go module proxy did not serve k8s.io/kubernetes@$version" >&2; exit 1; }
upstream=$("$go" mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
staging=v0.${version#v1.}
{
	echo "module berth.test/kubelet-build"
	echo
	sed -n 's/^go \(.*\)/go \1/p' "$upstream"
	echo
	echo "require k8s.io/kubernetes $version"
	echo
	# Every "k8s.io/X => ./staging/src/k8s.io/X" becomes the published module.
	sed -n 's|^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*|replace \1 => \1 '"$staging"'|p' "$upstream"
} > "$mod/go.mod"
cd "$mod"
ldflags="-X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1"
ldflags="$ldflags -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2)"
ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$version"
"$go" get "k8s.io/kubernetes@$version"
"$go" build -ldflags "$ldflags" -o "$out/kubelet" k8s.io/kubernetes/cmd/kubelet
"$go" build -o "$out/agnhost" k8s.io/kubernetes/test/images/agnhost
"$go" test -c -ldflags "$ldflags" -o "$out/e2e_node.test" k8s.io/kubernetes/test/e2e_node
"$go" build -o "$out/ginkgo" github.com/onsi/ginkgo/v2/ginkgo
# agnhost's image carries its test certificate and key (porter/).
src=$("$go" list -m -f '{{.Dir}}' k8s.io/kubernetes)/test/images/agnhost/porter
install -m 0644 "$src/localhost.crt" "$src/localhost.key" "$out/"
echo "$version" > "$stamp"
