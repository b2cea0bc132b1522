# berth: a containerd-compatible, runc-compatible OCI runtime.
#   make demo   install what is needed, build, and run a busybox container
#   make test   install what is needed, build, and run every test
SHELL := /bin/bash

# libcontainer_seccomp_program: compile each seccomp profile once (needs the
# patched libcontainer of the workspace below; see docs/performance.md).
BUILDTAGS := seccomp,libcontainer_seccomp_program
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
export GOFLAGS := -tags=$(BUILDTAGS) -buildvcs=false
export CGO_ENABLED := 1
# The Go workspace that replaces runc's module with the patched one
# (patches/, made by scripts/patch-runc.sh in setup-base).
export GOWORK := $(CURDIR)/.cache/go.work

# setup.sh installs packages and Go if missing, and prints the go binary.
SETUP_STAMP := .cache/go-binary
GO = $(shell cat $(SETUP_STAMP))

# containerd 2.x for the shim tests, built by setup (1.6 comes from Debian).
CONTAINERD2_DIR := $(CURDIR)/.cache/containerd-2.2.1
# containerd 2.3, for the CRI lane's pod sandbox handler: 2.2.1 (and 2.2.9)
# give a shim sandboxer no runtime features or panic on its host-network
# pods.
CONTAINERD23_DIR := $(CURDIR)/.cache/containerd-2.3.7

# The OCI runtime-tools validation suite and runc v1.5.2, built by setup.
CONFORMANCE_DIR := $(CURDIR)/.cache/conformance

# critest, crictl, crane and Debian's dynamic busybox for the CRI lane.
CRI_DIR := $(CURDIR)/.cache/cri

# critest's specs run on this many ginkgo workers (critest --parallel; the
# counts are the same as on one, in less time).
CRITEST_PARALLEL ?= 3
# Pod create/delete cycles of make test-reliability's pod churn: under the
# sandbox handler, and under the runc shim for comparison. make test runs
# a quarter of them, to keep the whole run within CI's hour.
POD_CHURN      ?= 1000
POD_CHURN_RUNC ?= 100
test: POD_CHURN = 250

# The environment of the containerd tests (integration/containerd and the
# others that run containerd), written once: $(1) is the directory of the
# berth binaries (bin, or bin/race for the race detector's run).
CONTAINERD_ENV = BERTH_BINARY=$(CURDIR)/$(1)/berth BERTH_SHIM=$(CURDIR)/$(1)/containerd-shim-berth-v2 \
	CONTAINERD_16=/usr/bin/containerd CTR_16=/usr/bin/ctr \
	CONTAINERD_22=$(CONTAINERD2_DIR)/containerd CTR_22=$(CONTAINERD2_DIR)/ctr \
	RUNC_BINARY=$(CONFORMANCE_DIR)/runc/runc

# The environment of the CRI lanes (test-cri, and the systemd VM's),
# written once.
CRI_ENV = CONTAINERD_22=$(CONTAINERD2_DIR)/containerd CONTAINERD_22_SHIM_RUNC=$(CONTAINERD2_DIR)/containerd-shim-runc-v2 \
	CONTAINERD_23=$(CONTAINERD23_DIR)/containerd CONTAINERD_23_SHIM_RUNC=$(CONTAINERD23_DIR)/containerd-shim-runc-v2 \
	RUNC_BINARY=$(CONFORMANCE_DIR)/runc/runc BERTH_SHIM=$(CURDIR)/bin/containerd-shim-berth-v2 \
	CRANE=$(CRI_DIR)/bin/crane CRICTL=$(CRI_DIR)/bin/crictl CRITEST=$(CRI_DIR)/bin/critest \
	CNI_BIN_DIR=/usr/lib/cni BUSYBOX_DYNAMIC_ROOT=$(CRI_DIR)/busybox BERTH_GO=$(GO) CRITEST_PARALLEL=$(CRITEST_PARALLEL)

DEMO_DIR  ?= /tmp/berth-demo
TEST_ARGS ?=

.PHONY: all help setup setup-base build demo test unit integration conformance test-vm test-vm-systemd test-vm-systemd-kubelet vm-systemd-boots test-kubelet test-kubelet-full kubelet-bin test-podman test-docker test-nerdctl nerdctl-bin test-cri test-reliability fuzz bench vet clean

all: build

## help: list the targets, one line each
help:
	@grep -h '^## [a-z-]*:' $(MAKEFILE_LIST) | sed 's/^## //' | sed 's/: /	/' | awk -F'\t' '{printf "  %-25s %s\n", $$1, $$2}'

# setup-base installs what building berth and make demo need (Go, gcc,
# libseccomp-dev, busybox-static); setup installs everything the tests and
# the bench use, and each of their targets asks for it.
# run_setup runs scripts/setup.sh with the environment $(1), keeps the go
# binary it prints in the stamp, and prepares the patched libcontainer.
define run_setup
	@mkdir -p .cache
	@$(1) scripts/setup.sh > $(SETUP_STAMP).tmp && tail -n1 $(SETUP_STAMP).tmp > $(SETUP_STAMP) && rm -f $(SETUP_STAMP).tmp
	@scripts/patch-runc.sh "$$(cat $(SETUP_STAMP))"
endef

## setup-base: install what building berth and make demo need
setup-base:
	$(call run_setup,SETUP_LEVEL=base)

## setup: install everything the tests and the bench need
setup:
	$(call run_setup,CONTAINERD2_DIR=$(CONTAINERD2_DIR) CONTAINERD23_DIR=$(CONTAINERD23_DIR) CONFORMANCE_DIR=$(CONFORMANCE_DIR) CRI_DIR=$(CRI_DIR))

## build: build bin/berth and bin/containerd-shim-berth-v2
build: setup-base
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/berth ./cmd/berth
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/containerd-shim-berth-v2 ./cmd/containerd-shim-berth-v2

# Only the CLI: the demo runs one container through it.
## demo: build the CLI and run one busybox container with it
demo: setup-base
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/berth ./cmd/berth
	@rm -rf $(DEMO_DIR)
	$(GO) run ./integration/cmd/mkbundle $(DEMO_DIR) sh -c 'echo "hello from $$(hostname), pid $$$$ in its own namespaces"; echo "capabilities: $$(grep CapEff /proc/self/status)"; exit 3'
	@echo '$$ bin/berth --root $(DEMO_DIR)/state run --bundle $(DEMO_DIR) demo'
	@bin/berth --root $(DEMO_DIR)/state run --bundle $(DEMO_DIR) demo; echo "container exit code: $$? (the container ran 'exit 3')"
	@rm -rf $(DEMO_DIR)

# Vets the Makefile's build, and the build a program importing berth gets
# (upstream libcontainer, without the patch's build tag).
## vet: go vet (the Makefile's build and an importer's) and gofmt
vet: setup-base
	$(GO) vet ./...
	GOWORK=off GOFLAGS=-tags=seccomp $(GO) vet ./...
	@test -z "$$($(dir $(GO))gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; $(dir $(GO))gofmt -l $$(git ls-files '*.go'); exit 1; }

# The patches' own tests (in the patched libcontainer) run here too.
## unit: the packages' tests, no root needed
unit: setup-base
	$(GO) test -count=1 $(TEST_ARGS) ./spec/... ./runtime/... ./shim/... ./cgroups/... ./seccomp/... ./apparmor/... ./cmd/... ./integration/ginkgoreport/ \
		github.com/opencontainers/runc/libcontainer/seccomp/...
	$(GO) test -count=1 -run '^TestSetupEarlyRlimit$$' github.com/opencontainers/runc/libcontainer

## integration: real containers: the library, the CLI beside runc, the shim under containerd 1.6 and 2.2, go-runc
integration: setup build
	$(call CONTAINERD_ENV,bin) BERTH_GO=$(GO) $(GO) test -count=1 -timeout 20m $(TEST_ARGS) \
		$$($(GO) list ./integration/... ./examples/... | grep -v -e /integration/podman -e /integration/docker -e /integration/nerdctl -e /integration/cri$$ -e /integration/kubelet -e /integration/reliability)

# Debian's podman 4.3 and conmon drive bin/berth and runc v1.5.2 side by
# side (podman's default seccomp profile, no network); fails where a check
# passes with runc and not with berth.
## test-podman: podman and conmon with berth and runc side by side, rootful and rootless
test-podman: setup build
	BERTH_BINARY=$(CURDIR)/bin/berth RUNC_BINARY=$(CONFORMANCE_DIR)/runc/runc BERTH_GO=$(GO) \
		$(GO) test -count=1 -timeout 10m -v $(TEST_ARGS) ./integration/podman/

# Debian's Docker 20.10 (a private dockerd on a private containerd 1.6, no
# iptables, no bridge) drives bin/berth and runc v1.5.2 side by side
# through its "runtimes" configuration, a dockerd restart with live restore
# included; fails where a check passes with runc and not with berth.
## test-docker: Docker 20.10 with berth and runc side by side
test-docker: setup build
	$(call CONTAINERD_ENV,bin) $(GO) test -count=1 -timeout 10m -v $(TEST_ARGS) ./integration/docker/

# All 58 programs against bin/berth and runc v1.5.2, side by side; fails if
# berth fails any test point runc passes.
# nerdctl (containerd's Docker-compatible CLI), built from the Go module
# proxy by integration/nerdctl/build.sh into .cache/nerdctl, on a private
# containerd 2.3.7 with Debian's CNI plugins, drives berth's shim and the
# runc shim (runc v1.5.2) side by side; fails where a check passes with the
# runc shim and not with berth's.
NERDCTL_VERSION ?= v2.4.2
NERDCTL_DIR     := $(CURDIR)/.cache/nerdctl
## nerdctl-bin: build nerdctl into .cache/nerdctl
nerdctl-bin: setup
	integration/nerdctl/build.sh $(GO) $(NERDCTL_DIR) $(NERDCTL_VERSION)
## test-nerdctl: nerdctl with berth's shim and the runc shim side by side
test-nerdctl: setup build nerdctl-bin
	NERDCTL=$(NERDCTL_DIR)/nerdctl CONTAINERD_23=$(CONTAINERD23_DIR)/containerd CONTAINERD_23_SHIM_RUNC=$(CONTAINERD23_DIR)/containerd-shim-runc-v2 \
		RUNC_BINARY=$(CONFORMANCE_DIR)/runc/runc BERTH_SHIM=$(CURDIR)/bin/containerd-shim-berth-v2 CNI_BIN_DIR=/usr/lib/cni \
		$(GO) test -count=1 -timeout 10m -v $(TEST_ARGS) ./integration/nerdctl/

## conformance: runtime-tools' validation suite, berth beside runc
conformance: setup build
	$(GO) run ./integration/cmd/conformance -validation $(CONFORMANCE_DIR)/validation \
		-work $(CONFORMANCE_DIR)/work -berth bin/berth -runc $(CONFORMANCE_DIR)/runc/runc

# Reliability: 1,000 `berth run` and 500 `ctr run --rm` (plus execs)
# through one shim daemon with nothing left or grown; the CLI's fault cases
# (state root full, bundle deleted; the containerd ones, TestShim/*/Fault*,
# run in make integration and again here under the race detector); then
# the shim's and the library's tests with every binary built with the race
# detector (a report ends the process, so it fails the tests); the shim's
# under containerd 2.2 only, whose shim moves stdio through pipes (1.6's
# hands the FIFOs to the container: fewer goroutines), with 200 concurrent
# execs rather than 1,000 (1,000 took half the suite's time under the race
# detector). The OOM tests are left
# out of the race run: a race-built container init needs more than their
# 16 MiB limit before the workload starts. So is the RLIMIT_AS load test
# (300 runs each way: the init's limits, not a race, and minutes under the
# race detector).
## test-reliability: churn with nothing left behind, fault cases, the race detector
test-reliability: setup build
	BERTH_BINARY=$(CURDIR)/bin/berth BERTH_CLI_CHURN=1000 \
		$(GO) test -count=1 -v -run 'TestChurnCLI|TestFault' ./integration/reliability/
	$(call CONTAINERD_ENV,bin) BERTH_SHIM_CHURN=500 \
		$(GO) test -count=1 -v -run '^TestShim$$/containerd-1.6/DaemonSteadyUnderChurn' ./integration/containerd/
	$(CRI_ENV) BERTH_POD_CHURN=$(POD_CHURN) BERTH_POD_CHURN_RUNC=$(POD_CHURN_RUNC) \
		$(GO) test -count=1 -v -timeout 30m -run 'TestPodChurn' ./integration/cri/
	@mkdir -p bin/race
	$(GO) build -race -o bin/race/berth ./cmd/berth
	$(GO) build -race -o bin/race/containerd-shim-berth-v2 ./cmd/containerd-shim-berth-v2
	GORACE=halt_on_error=1 $(call CONTAINERD_ENV,bin/race) BERTH_EXEC_CHURN=200 \
		$(GO) test -race -count=1 -timeout 20m -run '^TestShim$$/containerd-2.2' -skip '.*/.*/OOM' ./integration/containerd/
	GORACE=halt_on_error=1 $(call CONTAINERD_ENV,bin/race) \
		$(GO) test -race -count=1 -timeout 5m -run 'TestShimUpgrade' ./integration/containerd/
	GORACE=halt_on_error=1 $(call CONTAINERD_ENV,bin/race) \
		$(GO) test -race -count=1 -timeout 20m -skip 'TestLibraryOOM|TestParityEventsOOM|TestRlimitASUnderLoad' ./integration/reaper/ ./integration/ ./shim/... ./runtime/

# Native Go fuzz targets, each for FUZZTIME (their seeds also run in make
# unit): spec loading and validation, seccomp profiles (OCI and Docker
# format), the shim's runtime options, container ids, update resources.
# A count of executions, not a duration: with a duration, Go 1.26's fuzz
# coordinator can report its own deadline as a failure ("context deadline
# exceeded", no input written; golang/go#75804, fixed in Go 1.27), which
# failed a CI run in FuzzValidateID.
FUZZTIME ?= 100000x
FUZZ_TARGETS := ./spec:FuzzDecodeValidate ./seccomp:FuzzValidate ./seccomp:FuzzLoadDockerProfile \
	./shim/options:FuzzDecodeOptions ./runtime:FuzzValidateID ./runtime:FuzzMergeResources
## fuzz: the native Go fuzz targets, FUZZTIME each
fuzz: setup-base
	@set -o pipefail; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
		out=$$($(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg 2>&1) || { echo "$$out"; exit 1; }; \
		echo "fuzz $$name: $$(echo "$$out" | grep -o 'execs: [0-9]*' | tail -1) in $(FUZZTIME), no failure"; done

## test-cri: critest v1.34.0 under containerd 1.6.20, 2.2.1 and 2.3.7, every berth handler beside the runc shim
# Kubernetes' CRI validation suite against the CRI plugin of each
# containerd, with containerd's runc shim (runc v1.5.2) and with berth's
# handlers, side by side; fails where a test passes with the runc shim and
# not with a berth handler.
test-cri: setup build
	$(CRI_ENV) CONTAINERD_16=/usr/bin/containerd CONTAINERD_16_SHIM_RUNC=/usr/bin/containerd-shim-runc-v2 \
		$(GO) test -count=1 -timeout 30m -v $(TEST_ARGS) ./integration/cri/

# A real kubelet (Kubernetes $(KUBE_VERSION), built from the Go module proxy
# by integration/kubelet/build.sh and kept in .cache/kubelet) drives
# containerd 2.3.7's CRI with the runc shim, berth and berth-sandbox in turn:
# a named subset of the node e2e suite's [NodeConformance] tests and the
# lane's own scenarios, in a mount and network namespace of its own
# (netns.sh). Fails where the runc shim passes and a berth handler does not.
# test-kubelet-full runs the whole [NodeConformance] set (not part of make
# test: it takes the better part of an hour a handler). KUBELET_HANDLERS=runc,berth-sandbox
# runs some handlers only.
KUBE_VERSION     ?= v1.34.4
KUBELET_DIR      := $(CURDIR)/.cache/kubelet
KUBELET_ENV = $(CRI_ENV) KUBELET_BIN_DIR=$(KUBELET_DIR) KUBELET_LANE_DIR=$(KUBELET_DIR)/lane KUBELET_VERSION=$(KUBE_VERSION)
## kubelet-bin: build the kubelet and the node e2e suite into .cache/kubelet
kubelet-bin: setup
	integration/kubelet/build.sh $(GO) $(KUBELET_DIR) $(KUBE_VERSION)
## test-kubelet: a real kubelet with the runc shim, berth and berth-sandbox
test-kubelet: setup build kubelet-bin
	$(GO) test -c -o $(KUBELET_DIR)/lane.test ./integration/kubelet/
	$(KUBELET_ENV) integration/kubelet/netns.sh $(KUBELET_DIR)/lane.test -test.count=1 -test.timeout 50m -test.v $(TEST_ARGS)
## test-kubelet-full: the whole [NodeConformance] set per handler (not in make test)
test-kubelet-full: setup build kubelet-bin
	$(GO) test -c -o $(KUBELET_DIR)/lane.test ./integration/kubelet/
	$(KUBELET_ENV) KUBELET_FOCUS=all integration/kubelet/netns.sh $(KUBELET_DIR)/lane.test -test.count=1 -test.timeout 480m -test.v $(TEST_ARGS)

# Boots Debian's kernel under qemu with AppArmor and pure cgroup v2 and runs
# berth's checks there; berth is linked statically (no userland in the guest).
## test-vm: a VM with AppArmor and pure cgroup v2
test-vm: setup
	$(GO) build -tags "$(BUILDTAGS),netgo,osusergo" -ldflags "$(LDFLAGS) -extldflags -static" -o bin/berth-static ./cmd/berth
	integration/vm/run.sh $(GO) bin/berth-static

# Boots Debian's kernel under qemu with systemd as pid 1 and pure cgroup v2,
# on the host's own root (read-only over 9p, under a tmpfs overlay), and
# runs berth beside runc v1.5.2 and the runc shim there: the systemd cgroup
# driver through the CLI, containerd 2.2.1 (metrics, OOM events), CRIU
# checkpoint and restore (CLI, ctr, CRI), and containerd's CRI with
# SystemdCgroup = true, critest's subset included. For a quicker run by
# hand: make test-vm-systemd LANE_SKIP_CRITEST=1 (or LANE_SKIP_CRI=1).
VM_SYSTEMD_ENV = $(CRI_ENV) $(if $(LANE_SKIP_CRITEST),LANE_SKIP_CRITEST=1) $(if $(LANE_SKIP_CRI),LANE_SKIP_CRI=1) \
	$(if $(LANE_BOOT_PROBE),LANE_BOOT_PROBE=1)
## test-vm-systemd: a VM with systemd as pid 1: the systemd driver, CRIU, containerd, the CRI
test-vm-systemd: setup build
	integration/vmsystemd/run.sh $(CURDIR) $(GO) $(VM_SYSTEMD_ENV)

# The systemd VM lane's kubelet part, in a boot of its own (its budget 10
# minutes): containerd 2.3.7 with SystemdCgroup = true, and the kubelet
# lane's kubelet with cgroupDriver: systemd, registered with the node e2e
# suite's API server, running the lane's short scenarios
# (integration/vmsystemd/guest-kubelet.sh) with berth-sandbox. The runc
# shim beside it, by hand (a second handler needs a longer budget): make test-vm-systemd-kubelet LANE_KUBELET_HANDLERS=runc,berth-sandbox
# VM_KUBELET_TIMEOUT=1200.
LANE_KUBELET_HANDLERS ?= berth-sandbox
VM_KUBELET_TIMEOUT    ?= 600
## test-vm-systemd-kubelet: that VM with a kubelet on the systemd driver
test-vm-systemd-kubelet: setup build kubelet-bin
	VM_SYSTEMD_TIMEOUT=$(VM_KUBELET_TIMEOUT) integration/vmsystemd/run.sh $(CURDIR) $(GO) $(CRI_ENV) \
		KUBELET_VERSION=$(KUBE_VERSION) LANE_PART=kubelet LANE_GUEST_BUDGET=$$(($(VM_KUBELET_TIMEOUT) - 50)) \
		LANE_KUBELET_HANDLERS=$(LANE_KUBELET_HANDLERS)

# By hand, not in make test: boots the systemd VM lane's guest BOOTS times
# with only the boot and each runtime's first systemd-driver run -d, and
# counts the boots that got stuck (a hang seen once in many boots).
BOOTS ?= 20
## vm-systemd-boots: boot the systemd VM BOOTS times, counting stuck boots (not in make test)
vm-systemd-boots: setup build
	integration/vmsystemd/boots.sh $(BOOTS) $(CURDIR) $(GO) $(CRI_ENV)

# Side by side with runc v1.5.2, crun and containerd's runc shim: sections
# 1-5 (and 1r, 3r on runc's own spec) from integration/cmd/bench, section 6
# from go test -bench, section 7 (Kubernetes pods and exec probes through containerd
# 2.2.1's CRI, BENCH_CRI_N pods per series) from integration/cmd/cribench. BENCH_N
# sets the runs per measurement; BENCH_QUICK=1 runs a few of each (CI
# checks that the benchmark still works). Not part of make test.
BENCH_N       ?= 200
BENCH_DENSITY ?= 100
BENCH_TIME    ?= 1s
BENCH_CRI_N   ?= 50
BENCH_PROBE_PODS    ?= 20
BENCH_PROBE_SECONDS ?= 60
ifeq ($(BENCH_QUICK),1)
BENCH_N       := 3
BENCH_DENSITY := 10
BENCH_TIME    := 1x
BENCH_CRI_N   := 3
BENCH_PROBE_PODS    := 2
BENCH_PROBE_SECONDS := 3
endif
## bench: berth beside runc, crun and the runc shim (not in make test)
bench: setup build
	GOWORK=off GOFLAGS=-tags=seccomp $(GO) build -o bin/bench/berth-compiling ./cmd/berth
	GOWORK=off GOFLAGS=-tags=seccomp $(GO) build -o bin/bench/containerd-shim-berthc-v2 ./cmd/containerd-shim-berth-v2
	$(GO) run ./integration/cmd/bench -berth bin/berth -berth-compiling bin/bench/berth-compiling \
		-shim bin/containerd-shim-berth-v2 -shim-compiling bin/bench/containerd-shim-berthc-v2 \
		-runc $(CONFORMANCE_DIR)/runc/runc -containerd /usr/bin/containerd -ctr /usr/bin/ctr \
		-n $(BENCH_N) -density $(BENCH_DENSITY)
	@echo; echo "6. Go microbenchmarks of the library (go test -bench, benchtime $(BENCH_TIME))"
	$(GO) test -count=1 -run '^$$' -bench . -benchmem -benchtime $(BENCH_TIME) ./integration/librarybench/
	@echo
	$(GO) run ./integration/cmd/cribench -containerd $(CONTAINERD2_DIR)/containerd \
		-shim-runc $(CONTAINERD2_DIR)/containerd-shim-runc-v2 -runc $(CONFORMANCE_DIR)/runc/runc \
		-berth-shim bin/containerd-shim-berth-v2 -crane $(CRI_DIR)/bin/crane -crictl $(CRI_DIR)/bin/crictl \
		-cni /usr/lib/cni -go $(GO) -busybox-root $(CRI_DIR)/busybox -n $(BENCH_CRI_N) -density $(BENCH_DENSITY) \
		-probe-pods $(BENCH_PROBE_PODS) -probe-seconds $(BENCH_PROBE_SECONDS)

# make test runs the lanes in this order, each by a make of its own, and
# prints each one's time as it ends and all of them at the end, so that
# the slowest lanes are known when CI nears its hour.
TEST_LANES = vet unit fuzz integration conformance test-vm test-vm-systemd test-vm-systemd-kubelet \
	test-podman test-docker test-nerdctl test-cri test-kubelet test-reliability
## test: every lane in TEST_LANES, with each lane's time
test:
	@times=; for lane in $(TEST_LANES); do \
		start=$$(date +%s); \
		$(MAKE) --no-print-directory $$lane POD_CHURN=$(POD_CHURN) || { echo "make test: $$lane failed after $$(($$(date +%s) - start)) s"; exit 1; }; \
		took="$$lane $$(($$(date +%s) - start)) s"; times="$$times$${times:+, }$$took"; \
		echo "make test: $$took"; \
	done; echo "make test: every lane passed: $$times"

## clean: remove bin and .cache
clean:
	rm -rf bin .cache
