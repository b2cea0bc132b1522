// Package seccomp holds berth's seccomp profiles: the default profile that
// `berth spec` writes, loading of Docker-format JSON profiles into the OCI
// form, and validation of profiles against the kernel and libseccomp.
package seccomp
