// Package runtime turns OCI bundles into running, isolated containers. It is
// berth's library: the CLI and the containerd shim are thin translations onto
// it. It is built on runc's libcontainer.
//
// Every binary that uses this package must call Init first, from an init
// function of package main, because containers are started by re-executing
// the current binary as "<exe> init":
//
//	func init() { runtime.Init() }
//
// Paths given to the package (the state root, bundles) must be absolute: the
// package never resolves anything against the working directory. One caveat
// is inherited from libcontainer's spec conversion, which reads the working
// directory: it must exist (a daemon should chdir to "/" at start).
//
// A Runtime is safe for concurrent use, and calls on different containers run
// concurrently. Calls on one Container are serialized.
//
// Who reaps a container's init: the process that created or ran the container
// owns it, and Container.Wait collects its exit status. A container loaded
// by another process (Runtime.Load) is watched through a pidfd: Wait sees the
// exit but cannot know the status (ExitStatus.Code is -1).
package runtime
