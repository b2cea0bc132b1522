// Command vmsystemd writes the bundles of the systemd VM lane (make
// test-vm-systemd) into DIR: for each runtime (berth and runc v1.5.2) the
// same containers, whose systemd cgroup paths differ only in their prefix,
// so that the two runtimes' scopes can be compared side by side; and the
// busybox image its ctr checks import.
//
//	go run ./integration/vmsystemd DIR
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: vmsystemd DIR")
		os.Exit(2)
	}
	if err := write(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "vmsystemd:", err)
		os.Exit(1)
	}
}

// systemdCgroup puts the container in <slice>:<prefix>:<name>, the form of
// the systemd driver; the scope is <prefix>-<name>.scope.
func systemdCgroup(slice, prefix, name string) spec.Option {
	return func(s *specs.Spec) { s.Linux.CgroupsPath = slice + ":" + prefix + ":" + name }
}

// annotations adds the org.systemd.property.* annotations runc turns into
// unit properties.
func annotations(kv map[string]string) spec.Option {
	return func(s *specs.Spec) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		for k, v := range kv {
			s.Annotations[k] = v
		}
	}
}

// laneUserID is the uid (and gid) of the guest's unprivileged user.
const laneUserID = 1500

// rootlessUser maps the user, and only the user, to root in the container.
func rootlessUser(id uint32) spec.Option {
	return func(s *specs.Spec) {
		m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: id, Size: 1}}
		s.Linux.UIDMappings, s.Linux.GIDMappings = m, append([]specs.LinuxIDMapping(nil), m...)
		s.Process.Terminal = false
	}
}

func write(dir string) error {
	rootfs := filepath.Join(dir, "rootfs")
	if err := busybox.MakeRootfs(rootfs); err != nil {
		return err
	}
	for _, rt := range []string{"berth", "runc"} {
		bundles := map[string][]spec.Option{
			"limits": {spec.WithArgs("sleep", "1000"), spec.WithMemoryLimit(64 << 20), spec.WithPidsLimit(20), spec.WithCPUQuota(50000, 100000),
				systemdCgroup("system.slice", "lane-"+rt, "limits"),
				annotations(map[string]string{
					"org.systemd.property.TimeoutStopUSec": "uint64 123456789",
					"org.systemd.property.CollectMode":     "'inactive-or-failed'",
				})},
			// A counter in a tmpfs, to show a restore goes on where the
			// checkpoint left it.
			"cr": {systemdCgroup("system.slice", "lane-"+rt, "cr"),
				spec.WithArgs("sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /dev/shm/count; sleep 0.2; done")},
			// The restore of a lazy checkpoint of "cr", beside it.
			"cr-lazy-restored": {systemdCgroup("system.slice", "lane-"+rt, "cr-lazy-restored"),
				spec.WithArgs("sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /dev/shm/count; sleep 0.2; done")},
			// The counter with a terminal, which prints it too.
			"cr-tty": {systemdCgroup("system.slice", "lane-"+rt, "cr-tty"), spec.WithTerminal(true),
				spec.WithArgs("sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /dev/shm/count; echo tick $i; sleep 0.2; done")},
			// An established TCP connection inside the container (over
			// its loopback): numbers sent once a tenth of a second, kept
			// by the server in a tmpfs.
			"cr-tcp": {systemdCgroup("system.slice", "lane-"+rt, "cr-tcp"),
				// (The server's stdin never ends: at its end busybox's nc
				// closes the connection.)
				spec.WithArgs("sh", "-c", "sleep 100000 | nc -l -p 7777 > /dev/shm/got & sleep 1; i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done | nc 127.0.0.1 7777")},
			// A counter in a directory of the host's, bind-mounted.
			"cr-bind": {systemdCgroup("system.slice", "lane-"+rt, "cr-bind"),
				spec.WithBindMount("/run/lane-bind-"+rt, "/data", false),
				spec.WithArgs("sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /data/count; sleep 0.2; done")},
			"oom": {spec.WithMemoryLimit(16 << 20), systemdCgroup("system.slice", "lane-"+rt, "oom"),
				spec.WithArgs("sh", "-c", "sleep 2; x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done")},
			// The hog a child: its kill leaves the init, and the scope.
			"oom-child": {spec.WithMemoryLimit(16 << 20), systemdCgroup("system.slice", "lane-"+rt, "oom-child"),
				spec.WithArgs("sh", "-c", "sleep 2; (x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done); exec sleep 300")},
		}
		// A rootless container of the user lanerl (uid 1500, made in the
		// guest), in a scope of that user's systemd manager.
		bundles["rootless"] = []spec.Option{spec.Rootless, rootlessUser(laneUserID),
			systemdCgroup("user.slice", "lane-"+rt, "rootless"),
			spec.WithMemoryLimit(64 << 20), spec.WithPidsLimit(20), spec.WithArgs("sleep", "1000")}
		for name, opts := range bundles {
			b := filepath.Join(dir, "bundles", rt, name)
			if err := os.MkdirAll(b, 0o755); err != nil {
				return err
			}
			// Relative to the bundle: the guest sees DIR elsewhere.
			if err := busybox.WriteSpec(b, append(opts, spec.WithRootPath("../../../rootfs"))...); err != nil {
				return err
			}
		}
	}
	// The image of the ctr checks, and its name.
	if err := busybox.WriteImage(filepath.Join(dir, "busybox.tar")); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "image"), []byte(busybox.ImageName+"\n"), 0o644)
}
