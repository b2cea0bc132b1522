// Command vm writes the guest tree of the VM test lane (make test-vm): the
// bundles the guest's checks run and the berth-default AppArmor profile
// source, which the host compiles for the guest to load.
//
//	go run ./integration/vm DIR
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-oci/berth/apparmor"
	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: vm DIR")
		os.Exit(2)
	}
	if err := write(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "vm:", err)
		os.Exit(1)
	}
}

// unmasked lets a container write /proc/sys as far as its capabilities
// and LSM allow: no read-only or masked paths.
func unmasked(s *specs.Spec) {
	s.Linux.ReadonlyPaths = nil
	s.Linux.MaskedPaths = nil
}

func write(dir string) error {
	rootfs := filepath.Join(dir, "rootfs")
	if err := busybox.MakeRootfs(rootfs); err != nil {
		return err
	}
	aaScript := `cat /proc/self/attr/current; { echo vm > /proc/sys/kernel/hostname; } 2>/dev/null && echo write-allowed || echo write-denied`
	bundles := map[string][]spec.Option{
		"limits": {spec.WithArgs("sleep", "300"), spec.WithMemoryLimit(64 << 20), spec.WithPidsLimit(20), spec.WithCPUQuota(50000, 100000)},
		"oom": {spec.WithMemoryLimit(16 << 20),
			spec.WithArgs("sh", "-c", "sleep 2; x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done")},
		"seccomp":    {spec.WithArgs("sh", "-c", `grep Seccomp: /proc/self/status | tr -d '\t'; unshare -U true 2>/dev/null && echo userns-allowed || echo userns-denied`)},
		"apparmor":   {unmasked, spec.WithAppArmorProfile(apparmor.DefaultProfile), spec.WithArgs("sh", "-c", aaScript)},
		"unconfined": {unmasked, spec.WithAppArmorProfile(""), spec.WithArgs("sh", "-c", aaScript)},
	}
	for name, opts := range bundles {
		b := filepath.Join(dir, "bundles", name)
		if err := os.MkdirAll(b, 0o755); err != nil {
			return err
		}
		// Every bundle shares the one rootfs (read-only by default).
		if err := busybox.WriteSpec(b, append(opts, spec.WithRootPath("/rootfs"))...); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "berth-default.profile"), []byte(apparmor.Generate(apparmor.DefaultProfile)), 0o644)
}
