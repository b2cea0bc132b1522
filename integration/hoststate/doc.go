// Package hoststate inspects and cleans what tests and benchmarks leave on
// the host: mounts below a directory, shim daemons serving a containerd,
// the network state CNI changes, and the parent cgroups containerd's
// containers cause to exist.
package hoststate
