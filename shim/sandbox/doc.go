// Package sandbox is containerd 2.x's Sandbox API for a runtime handler
// with sandboxer = "shim": a pod without a pause container. A pod is a
// holder process cloned from the daemon in the pod's namespaces (holder.go,
// its setup in C in holder.c, then the 158-byte program of
// holder_image.go) and the pod's files (files.go: hostname, hosts,
// resolv.conf, /dev/shm). The pod's config comes from the CRI's
// PodSandboxConfig, read by field number (config.go). A started pod is
// handed over across an in-place upgrade (handover.go); its holder, a
// child of the daemon's main thread, stays.
//
// Lock rules. Service.mu guards the map of pods and is held only to read
// or change it, and while the pod holds the daemon's Keeper. A pod's own
// lock (podSandbox.mu) guards its pid and exit; it is never held while
// Service.mu is taken, and nothing here takes a task's lock.
package sandbox
