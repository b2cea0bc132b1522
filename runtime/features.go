package runtime

import (
	"fmt"
	"strings"

	"github.com/moby/sys/capability"
	"github.com/opencontainers/runc/libcontainer/apparmor"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/runc/libcontainer/specconv"
	runcfeatures "github.com/opencontainers/runc/types/features"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	selinux "github.com/opencontainers/selinux/go-selinux"
)

// unsafeConfigAnnotations are the annotations (or, ending in a dot, their
// prefixes) that change what berth does with a container.
var unsafeConfigAnnotations = []string{"org.systemd.property.", "org.criu.config"}

// Features describes what this runtime supports, in the runtime-spec
// features format (`berth features`, the shim's -info).
func Features() *features.Features {
	yes, no := true, false
	boolp := func(b bool) *bool {
		if b {
			return &yes
		}
		return &no
	}
	var caps []string
	for _, c := range capability.ListKnown() {
		caps = append(caps, "CAP_"+strings.ToUpper(c.String()))
	}
	f := &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: "1.3.0",
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  specconv.KnownMountOptions(),
		Linux: &features.Linux{
			Namespaces:   specconv.KnownNamespaces(),
			Capabilities: caps,
			Cgroup:       &features.Cgroup{V1: &yes, V2: &yes, Systemd: &yes, SystemdUser: &yes, Rdma: &yes},
			Apparmor:     &features.Apparmor{Enabled: boolp(apparmor.IsEnabled())},
			Selinux:      &features.Selinux{Enabled: boolp(selinux.GetEnabled())},
			MemoryPolicy: &features.MemoryPolicy{Modes: specconv.KnownMemoryPolicyModes(), Flags: specconv.KnownMemoryPolicyFlags()},
			// libcontainer carries these from the spec (specconv), as
			// for runc: idmapped mounts (mounts[].uidMappings and
			// gidMappings), linux.netDevices and linux.intelRdt.
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &yes}},
			NetDevices:      &features.NetDevices{Enabled: &yes},
			IntelRdt:        &features.IntelRdt{Enabled: &yes, Schemata: &yes, Monitoring: &yes},
		},
		// Annotations that change what berth does, listed as runc lists
		// its own: unit properties for the systemd cgroup driver, and
		// CRIU's configuration file for checkpoint and restore (which
		// libcontainer reads from the container's labels). runc lists
		// "bundle" too, which berth does not honour: it records the
		// bundle it was given and drops any other (toConfig).
		PotentiallyUnsafeConfigAnnotations: unsafeConfigAnnotations,
		// Checkpoint and restore go through libcontainer and CRIU, as
		// runc's, which sets this annotation (its name is runc's) the same
		// way: clients such as containerd's CRI read it.
		Annotations: map[string]string{runcfeatures.AnnotationRuncCheckpointEnabled: "true"},
	}
	if seccomp.Enabled {
		major, minor, patch := seccomp.Version()
		f.Linux.Seccomp = &features.Seccomp{
			Enabled:        &yes,
			Actions:        seccomp.KnownActions(),
			Operators:      seccomp.KnownOperators(),
			Archs:          seccomp.KnownArchs(),
			KnownFlags:     seccomp.KnownFlags(),
			SupportedFlags: seccomp.SupportedFlags(),
		}
		f.Annotations["io.github.seccomp.libseccomp.version"] = fmt.Sprintf("%d.%d.%d", major, minor, patch)
	} else {
		f.Linux.Seccomp = &features.Seccomp{Enabled: &no}
	}
	return f
}
