#!/usr/bin/env bash
# Prepares the libcontainer berth's Makefile builds with: runc's module, at
# the version go.mod requires, with patches/runc-<version>-*.patch applied,
# in .cache/runc-<version>-berth, and the Go workspace .cache/go.work that
# replaces the module with it (the Makefile sets GOWORK to it). See
# docs/performance.md, "Compiling a seccomp profile once".
#
# Without the workspace (a plain `go build`, or a program importing berth's
# packages), upstream runc is used and the patched code is left out by its
# build tag: containers then compile their seccomp filter in their init.
# Idempotent: the tree is made again only when a patch changes.
# Usage: scripts/patch-runc.sh <go binary>
set -euo pipefail
GO=${1:?usage: $0 <go binary>}
cd "$(dirname "$0")/.."
export GOWORK=off GOFLAGS=-mod=mod

mod=github.com/opencontainers/runc
ver=$("$GO" list -m -f '{{.Version}}' "$mod")
shopt -s nullglob
patches=(patches/runc-"$ver"-*.patch)
if [ ${#patches[@]} -eq 0 ]; then
	echo "patch-runc: go.mod requires $mod $ver, and patches/ has no patch for it" >&2
	exit 1
fi
tree=.cache/runc-$ver-berth
sum=$(cat "${patches[@]}" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$tree/.berth-patches" 2>/dev/null || true)" != "$sum" ]; then
	src=$("$GO" mod download -json "$mod@$ver" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[ -d "$src" ] || { echo "patch-runc: no source for $mod@$ver" >&2; exit 1; }
	rm -rf "$tree" "$tree.tmp"
	mkdir -p .cache
	cp -r "$src" "$tree.tmp"
	chmod -R u+w "$tree.tmp"
	for p in "${patches[@]}"; do
		patch -d "$tree.tmp" -p1 -s --forward < "$p"
	done
	echo "$sum" > "$tree.tmp/.berth-patches"
	mv "$tree.tmp" "$tree"
	echo "patch-runc: $tree made from $mod@$ver and ${patches[*]}" >&2
fi
gover=$(sed -n 's/^go //p' go.mod)
cat > .cache/go.work.tmp <<WORK
// Made by scripts/patch-runc.sh; see there.
go $gover

use ..

replace $mod $ver => ./runc-$ver-berth
WORK
mv .cache/go.work.tmp .cache/go.work
