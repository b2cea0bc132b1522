// Package shim is berth's containerd runtime v2 shim: the bootstrap actions
// (start, delete, -info) and a task service over ttrpc that manages
// containers in process through berth's runtime library, with no runc
// process per operation. It serves task API v2 and v3 from one
// implementation, so containerd 1.6, 1.7 and 2.x can all drive it.
//
// Lock rules. Each object owns its lock, and no lookup returns a locked
// object. The order, outermost first:
//
//	service.mu      the daemon's books (tasks, Creates, pins, pods); only
//	                read or changed under it, never held across a call
//	                into a task or a pod sandbox
//	task.mu         a task and its processes (task.go)
//	  stdio.mu, consoleCopy.closeMu, pipeCopy.mu, berth.Container's lock,
//	                the OOM watch's:
//	                taken under task.mu, never the other way round
//	publisher.mu    the event queue: taken last, under any of the above
//
// A pod sandbox's lock (podSandbox.mu) is its own and is not held while a
// task's is taken. The upgrade takes each object's state through that
// object's own handover method, one lock at a time.
package shim

import "github.com/berth-oci/berth/shim/stdio"

// RuntimeName is the containerd runtime type served by this shim.
const RuntimeName = "io.containerd.berth.v2"

// StdioEnv, in the shim's environment, chooses how containers' stdio
// reaches containerd (stdio.Env): ModeDirect or ModePipes.
const (
	StdioEnv    = stdio.Env
	StdioDirect = stdio.ModeDirect
	StdioPipes  = stdio.ModePipes
)
