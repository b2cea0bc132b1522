package apparmor

import (
	"strings"
	"text/template"
)

// profileTemplate is berth's default profile: broad file, network and
// capability access for the container's own processes, with the host-facing
// holes closed: no mounts, no writes to /proc/sys and /sys, no kernel
// interfaces in /proc, no ptrace of processes outside the profile.
var profileTemplate = template.Must(template.New("profile").Parse(`#include <tunables/global>

profile {{.Name}} flags=(attach_disconnected,mediate_deleted) {
  #include <abstractions/base>

  network,
  capability,
  file,
  umount,
  signal (receive) peer=unconfined,
  signal (send,receive) peer={{.Name}},

  deny mount,
  deny pivot_root,

  deny @{PROC}/* w,   # deny write for all files directly in /proc (not in a subdir)
  deny @{PROC}/{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9/]*}/** w,
  deny @{PROC}/sys/[^k]** w,
  deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,
  deny @{PROC}/sysrq-trigger rwklx,
  deny @{PROC}/kcore rwklx,
  deny @{PROC}/kmem rwklx,
  deny @{PROC}/mem rwklx,

  deny /sys/[^f]*/** wklx,
  deny /sys/f[^s]*/** wklx,
  deny /sys/fs/[^c]*/** wklx,
  deny /sys/fs/c[^g]*/** wklx,
  deny /sys/fs/cg[^r]*/** wklx,
  deny /sys/firmware/** rwklx,
  deny /sys/devices/virtual/powercap/** rwklx,
  deny /sys/kernel/security/** rwklx,

  ptrace (trace,read,tracedby,readby) peer={{.Name}},
}
`))

// Generate returns the text of berth's default profile under a name.
func Generate(name string) string {
	var b strings.Builder
	_ = profileTemplate.Execute(&b, struct{ Name string }{name})
	return b.String()
}
