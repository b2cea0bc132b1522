// Package options reads the runtime options containerd gives the shim:
// runc's Options (containerd.runc.v1.Options), the CRI's
// runtimeoptions.v1.Options with a runtime handler's options table, or
// none. They are read once, kept in the bundle for the shim's later
// invocations, and honoured or refused by name (Check).
package options

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/shim/internal/fsutil"
	"github.com/berth-oci/berth/shim/stdio"
)

const (
	RuncOptionsType    = "containerd.runc.v1.Options"
	File               = "options.json"
	defaultStateParent = "/run/containerd/berth"
)

// Options are the runtime options berth honours. containerd sends runc's
// Options, CRI sends runtimeoptions.v1.Options for non-runc runtimes (read
// by FromConfig), and plain ctr sends none; any other type is accepted
// and ignored.
type Options struct {
	NoPivotRoot  bool `json:"no_pivot_root,omitempty"`
	NoNewKeyring bool `json:"no_new_keyring,omitempty"`
	// IoUID and IoGID own the container's ends of its stdio (FIFOs and
	// pipes), so a process in a user namespace can reopen them.
	IoUID uint32 `json:"io_uid,omitempty"`
	IoGID uint32 `json:"io_gid,omitempty"`
	Root  string `json:"root,omitempty"`
	// SystemdCgroup selects the systemd cgroup driver (Kubernetes nodes
	// default to it).
	SystemdCgroup bool `json:"systemd_cgroup,omitempty"`
	// CriuWorkPath is where CRIU works when the task is restored from a
	// checkpoint (CriuImagePath is containerd's: it becomes the create
	// request's checkpoint).
	CriuWorkPath string `json:"criu_work_path,omitempty"`
	// ShimCgroup is the cgroup the shim daemon joins when it starts, as
	// containerd's runc shim does (a daemon already serving the group
	// stays where it is).
	ShimCgroup string `json:"shim_cgroup,omitempty"`
	// BinaryName names the runc binary for containerd's runc shim; berth
	// runs containers in process, so check refuses it.
	BinaryName string `json:"binary_name,omitempty"`
}

// ioOwner returns who owns the container's stdio ends.
func (o Options) IOOwner() stdio.Owner { return stdio.Owner{UID: o.IoUID, GID: o.IoGID} }

// check refuses options this host cannot honour, naming the option.
func (o Options) Check() error {
	if o.SystemdCgroup && !berth.SystemdAvailable() {
		return fmt.Errorf("runtime option SystemdCgroup: systemd is not running on this host, so its cgroup driver cannot be used (set SystemdCgroup = false to use cgroupfs)")
	}
	if o.BinaryName != "" {
		return fmt.Errorf("runtime option BinaryName (%q): berth's shim runs containers in process, without a runtime binary; remove the option", o.BinaryName)
	}
	return nil
}

func Decode(a *anypb.Any) (Options, error) {
	var o Options
	if a.GetTypeUrl() == RuntimeOptionsType {
		var ro runtimeoptions.Options
		if err := proto.Unmarshal(a.GetValue(), &ro); err != nil {
			return o, err
		}
		return FromConfig(&ro)
	}
	if a == nil || a.GetTypeUrl() != RuncOptionsType {
		return o, nil
	}
	var ro runcoptions.Options
	if err := proto.Unmarshal(a.GetValue(), &ro); err != nil {
		return o, err
	}
	return FromRunc(&ro), nil
}

// FromRunc is what berth takes of runc's Options.
func FromRunc(ro *runcoptions.Options) Options {
	return Options{
		NoPivotRoot:  ro.GetNoPivotRoot(),
		NoNewKeyring: ro.GetNoNewKeyring(),
		IoUID:        ro.GetIoUid(),
		IoGID:        ro.GetIoGid(),
		Root:         ro.GetRoot(),

		SystemdCgroup: ro.GetSystemdCgroup(),
		CriuWorkPath:  ro.GetCriuWorkPath(),
		ShimCgroup:    ro.GetShimCgroup(),
		BinaryName:    ro.GetBinaryName(),
	}
}

// StateRoot is where container state lives for a namespace, for a task
// whose options are recorded in its bundle (Write): see
// StateRootFor. cleanup, which has only the bundle, uses it.
func StateRoot(bundle, namespace string) string {
	return StateRootFor(bundle, namespace, FromBundle(bundle))
}

// StateRootFor is where container state lives for a namespace: runc
// Options.root/<namespace> if the task has a root, as containerd's runc
// shim gives runc; else <containerd state>/berth/<namespace>, found from
// the bundle path (<state>/io.containerd.runtime.v2.task/<namespace>/<id>),
// so that two containerd daemons never share it; for the default
// containerd that is /run/containerd/berth/<namespace>.
func StateRootFor(bundle, namespace string, o Options) string {
	if o.Root != "" && filepath.IsAbs(o.Root) {
		return filepath.Join(o.Root, namespace)
	}
	nsDir := filepath.Dir(filepath.Clean(bundle))
	taskDir := filepath.Dir(nsDir)
	if filepath.Base(nsDir) == namespace && filepath.Base(taskDir) == "io.containerd.runtime.v2.task" {
		return filepath.Join(filepath.Dir(taskDir), "berth", namespace)
	}
	return filepath.Join(defaultStateParent, namespace)
}

func Write(bundle string, o Options) error {
	data, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return fsutil.WriteAtomic(filepath.Join(bundle, File), data)
}

// FromBundle are the task options recorded in a bundle (Write);
// the zero options if there are none.
func FromBundle(bundle string) Options {
	var o Options
	if data, err := os.ReadFile(filepath.Join(bundle, File)); err == nil {
		_ = json.Unmarshal(data, &o)
	}
	return o
}
