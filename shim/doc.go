// Package shim is berth's containerd runtime v2 shim, the daemon that
// wires its parts: the bootstrap actions (start, delete, -info), serving
// on the socket start made, and the daemon's books (group.go): what holds
// it (tasks and pods, by kind and id), start's pins, and its retirement.
// The task API is shim/task's, the Sandbox API shim/sandbox's, the stdio
// shim/stdio's, the upgrade in place shim/upgrade's; they reach the books
// through a Keeper interface and never call back into this package. It
// serves task API v2 and v3 from one implementation, so containerd 1.6,
// 1.7 and 2.x can all drive it.
//
// Lock rules. Each object owns its lock, and no lookup returns a locked
// object. The books' lock (books.mu) is taken last: a service may hold its
// own lock (task.Service's, sandbox.Service's) while it holds or releases
// the books, and the books call nothing under it but the listener's close.
// Each part's own rules are in its doc.go.
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
