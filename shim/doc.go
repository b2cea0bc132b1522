// Package shim is berth's containerd runtime v2 shim: the bootstrap actions
// (start, delete, -info) and a task service over ttrpc that manages
// containers in process through berth's runtime library, with no runc
// process per operation. It serves task API v2 and v3 from one
// implementation, so containerd 1.6, 1.7 and 2.x can all drive it.
package shim

// RuntimeName is the containerd runtime type served by this shim.
const RuntimeName = "io.containerd.berth.v2"
