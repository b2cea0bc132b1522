// Package cgroups holds berth's host-facing cgroup pieces: mode detection
// and the conversion of libcontainer's statistics into containerd's
// cgroup v1 and v2 Metrics protobufs.
package cgroups
