#!/usr/bin/env bash
# Installs what berth needs to build, demo and test, on a Debian machine.
# Idempotent: it only installs what is missing. Prints the Go binary to use
# on its last line of stdout, so callers can do GO=$(scripts/setup.sh | tail -1).
# SETUP_LEVEL=base installs only what building berth and make demo need
# (Go, gcc, libseccomp-dev, busybox-static); the default, full, installs
# everything the tests and the bench use.
set -euo pipefail
SETUP_LEVEL=${SETUP_LEVEL:-full}
# What this script builds are other modules: berth's workspace is not theirs.
export GOWORK=off

GO_VERSION=${GO_VERSION:-1.26.8}
GO_MIN_MINOR=26
# qemu, Debian's kernel, apparmor (apparmor_parser) and cpio are for the VM
# lane (make test-vm), which boots a kernel with AppArmor and cgroup v2;
# crun is a peer in make bench; podman and conmon are the podman lane
# (make test-podman); the CNI plugins, iptables and iproute2 (ip) are the CRI lane's
# (make test-cri); systemd, dbus, jq and kmod are the systemd VM lane's
# (make test-vm-systemd, which boots the host's own root), and criu its
# checkpoints; docker.io is the Docker lane (make test-docker).
BASE_PACKAGES=(busybox-static libseccomp-dev pkg-config gcc make ca-certificates curl unzip patch)
PACKAGES=("${BASE_PACKAGES[@]}" file containerd
	qemu-system-x86 linux-image-amd64 apparmor cpio gzip crun podman conmon
	containernetworking-plugins iptables iproute2 util-linux systemd dbus jq kmod criu docker.io)
if [ "$SETUP_LEVEL" = base ]; then
	PACKAGES=("${BASE_PACKAGES[@]}")
fi

log() { echo "setup: $*" >&2; }

need_root() {
	if [ "$(id -u)" != 0 ]; then
		log "must run as root to install: $*"
		exit 1
	fi
}

install_packages() {
	local missing=()
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	need_root "${missing[*]}"
	log "installing ${missing[*]}"
	apt-get update -qq >&2
	# The tests run private daemons of their own: the packages' services
	# (containerd, docker, podman) are not started on install.
	local policy=/usr/sbin/policy-rc.d made_policy=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=1
	fi
	local rc=0
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2 || rc=$?
	[ -z "$made_policy" ] || rm -f "$policy"
	return $rc
}

# go_ok prints the path of a go binary of at least 1.$GO_MIN_MINOR.
go_ok() {
	local go
	for go in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go /usr/local/berth-go/bin/go; do
		[ -n "$go" ] && [ -x "$go" ] || continue
		local v
		v=$(GOTOOLCHAIN=local "$go" env GOVERSION 2>/dev/null || true)
		if [[ $v =~ ^go1\.([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge "$GO_MIN_MINOR" ]; then
			echo "$go"
			return 0
		fi
	done
	return 1
}

# install_go fetches Go from the Go module proxy, which serves every Go
# release as the module golang.org/toolchain.
install_go() {
	need_root "go $GO_VERSION"
	local proxy=${GOPROXY:-https://proxy.golang.org}
	proxy=${proxy%%,*}
	local mod="v0.0.1-go${GO_VERSION}.linux-amd64"
	local tmp
	tmp=$(mktemp -d)
	log "installing go $GO_VERSION from the module proxy"
	curl -fsSL -o "$tmp/go.zip" "$proxy/golang.org/toolchain/@v/$mod.zip"
	unzip -q "$tmp/go.zip" -d "$tmp"
	rm -rf /usr/local/berth-go
	mv "$tmp/golang.org/toolchain@$mod" /usr/local/berth-go
	chmod -R a+rX /usr/local/berth-go
	chmod +x /usr/local/berth-go/bin/* /usr/local/berth-go/pkg/tool/*/*
	rm -rf "$tmp"
}

# install_containerd2 DIR VERSION builds containerd, ctr and its runc shim
# VERSION into DIR (the tests run containerd 1.6 from Debian and 2.2.1, and
# the CRI lane 2.3 too); nothing when DIR is empty.
install_containerd2() {
	local dir=$1 version=$2
	[ -n "$dir" ] || return 0
	if [ -x "$dir/containerd" ] && [ -x "$dir/ctr" ] && [ -x "$dir/containerd-shim-runc-v2" ]; then
		return 0
	fi
	log "building containerd $version into $dir (a few minutes, once)"
	mkdir -p "$dir"
	GOBIN="$dir" GOFLAGS=-buildvcs=false CGO_ENABLED=1 "$GO_BIN" install \
		"github.com/containerd/containerd/v2/cmd/containerd@$version" \
		"github.com/containerd/containerd/v2/cmd/ctr@$version" \
		"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$version" >&2
}

# install_cri installs into $CRI_DIR what the CRI lane needs besides
# containerd: critest and crictl (cri-tools $CRI_TOOLS_VERSION), crane (a
# local registry), and Debian's dynamic busybox unpacked, the base of the
# lane's images (the static one runs applets in-process).
install_cri() {
	[ -n "${CRI_DIR:-}" ] || return 0
	local d=$CRI_DIR
	mkdir -p "$d/bin"
	if [ ! -x "$d/bin/crictl" ] || [ ! -x "$d/bin/crane" ]; then
		log "installing crictl $CRI_TOOLS_VERSION and crane $CRANE_VERSION into $d/bin"
		GOBIN="$d/bin" GOFLAGS="-buildvcs=false -mod=mod" "$GO_BIN" install "sigs.k8s.io/cri-tools/cmd/crictl@$CRI_TOOLS_VERSION" >&2
		GOBIN="$d/bin" GOFLAGS="-buildvcs=false -mod=mod" "$GO_BIN" install "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION" >&2
	fi
	if [ ! -x "$d/bin/critest" ]; then
		log "building critest $CRI_TOOLS_VERSION into $d/bin"
		local mod
		mod=$(cd "$d" && GOFLAGS= "$GO_BIN" mod download -json "sigs.k8s.io/cri-tools@$CRI_TOOLS_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
		(cd "$mod" && GOFLAGS="-buildvcs=false -mod=mod" "$GO_BIN" test -c -o "$d/bin/critest" ./cmd/critest >&2)
	fi
	if [ ! -x "$d/bin/ginkgo" ]; then
		# critest --parallel hands its specs to the ginkgo CLI, of the
		# version cri-tools is built with.
		log "installing the ginkgo CLI of cri-tools $CRI_TOOLS_VERSION into $d/bin"
		local mod
		mod=$(cd "$d" && GOFLAGS= "$GO_BIN" mod download -json "sigs.k8s.io/cri-tools@$CRI_TOOLS_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
		(cd "$mod" && GOBIN="$d/bin" GOFLAGS="-buildvcs=false -mod=mod" "$GO_BIN" install github.com/onsi/ginkgo/v2/ginkgo >&2)
	fi
	if [ ! -x "$d/busybox/bin/busybox" ]; then
		log "unpacking Debian's dynamic busybox into $d/busybox"
		local tmp
		tmp=$(mktemp -d)
		(cd "$tmp" && apt-get download busybox >&2 2>/dev/null) || { apt-get update -qq >&2 && (cd "$tmp" && apt-get download busybox >&2); }
		mkdir -p "$d/busybox"
		dpkg-deb -x "$tmp"/busybox_*.deb "$d/busybox"
		rm -rf "$tmp"
	fi
}

# install_conformance installs, into $CONFORMANCE_DIR, the OCI runtime-tools
# validation suite (58 programs), a static runtimetest, the suite's rootfs
# tarball, and runc $RUNC_VERSION as the reference runtime.
install_conformance() {
	[ -n "${CONFORMANCE_DIR:-}" ] || return 0
	local d=$CONFORMANCE_DIR v=$RUNTIME_TOOLS_VERSION
	if [ ! -x "$d/work/runtimetest" ] || [ ! -f "$d/work/rootfs-amd64.tar.gz" ] || [ "$(ls "$d/validation" 2>/dev/null | wc -l)" -lt 58 ]; then
		log "installing the runtime-tools validation suite $v into $d"
		mkdir -p "$d/bin" "$d/validation" "$d/work"
		GOBIN="$d/bin" CGO_ENABLED=0 GOFLAGS=-buildvcs=false "$GO_BIN" install -tags "netgo osusergo" \
			"github.com/opencontainers/runtime-tools/cmd/runtimetest@$v" >&2
		GOBIN="$d/validation" GOFLAGS=-buildvcs=false "$GO_BIN" install \
			"github.com/opencontainers/runtime-tools/validation/...@$v" >&2
		local mod
		mod=$(cd "$d" && GOFLAGS= "$GO_BIN" mod download -json "github.com/opencontainers/runtime-tools@$v" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
		install -m 0644 "$mod/rootfs-amd64.tar.gz" "$d/work/rootfs-amd64.tar.gz"
		install -m 0755 "$d/bin/runtimetest" "$d/work/runtimetest"
	fi
	if [ ! -x "$d/runc/runc" ]; then
		log "building runc $RUNC_VERSION (the reference runtime) into $d/runc"
		GOBIN="$d/runc" CGO_ENABLED=1 GOFLAGS=-buildvcs=false "$GO_BIN" install -tags seccomp \
			"github.com/opencontainers/runc@$RUNC_VERSION" >&2
	fi
}

RUNTIME_TOOLS_VERSION=${RUNTIME_TOOLS_VERSION:-v0.9.1-0.20251205004911-5e639034dcdc}
RUNC_VERSION=${RUNC_VERSION:-v1.5.2}
CONTAINERD2_VERSION=${CONTAINERD2_VERSION:-v2.2.1}
CONTAINERD23_VERSION=${CONTAINERD23_VERSION:-v2.3.7}
CRI_TOOLS_VERSION=${CRI_TOOLS_VERSION:-v1.34.0}
CRANE_VERSION=${CRANE_VERSION:-v0.22.1}
install_packages
GO_BIN=$(go_ok) || { install_go; GO_BIN=$(go_ok); }
if [ "$SETUP_LEVEL" != base ]; then
	install_containerd2 "${CONTAINERD2_DIR:-}" "$CONTAINERD2_VERSION"
	install_containerd2 "${CONTAINERD23_DIR:-}" "$CONTAINERD23_VERSION"
	install_conformance
	install_cri
fi
echo "$GO_BIN"
