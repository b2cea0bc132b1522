#!/bin/sh
# /init of the VM lane's guest (Debian's kernel, no Debian userland). Moves
# itself onto a tmpfs (pivot_root cannot leave an initramfs), mounts pure
# cgroup v2 with its controllers and securityfs, loads berth-default, runs
# the checks and reports each on the serial console as "VMTEST ok|fail".
PATH=/bin
if [ "$1" != stage2 ]; then
	mount -t proc proc /proc
	mkdir -p /newroot && mount -t tmpfs -o size=512m tmpfs /newroot
	cp -a /bin /bundles /rootfs /berth-default.bin /init /newroot/
	mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/run /newroot/tmp
	umount /proc
	exec switch_root /newroot /init stage2
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t securityfs securityfs /sys/kernel/security

ok() { echo "VMTEST ok $*"; }
fail() { echo "VMTEST fail $*"; }
check() { # name, got, want
	if [ "$2" = "$3" ]; then ok "$1 ($2)"; else fail "$1: got '$2', want '$3'"; fi
}

echo "VMTEST kernel $(uname -r), /sys/fs/cgroup fs magic: 0x$(stat -f -c %t /sys/fs/cgroup) (0x63677270 is cgroup2)"
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; done
echo "VMTEST controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
if cat /berth-default.bin > /sys/kernel/security/apparmor/.load; then
	ok "apparmor: berth-default loaded ($(grep berth-default /sys/kernel/security/apparmor/profiles))"
else
	fail "apparmor: could not load berth-default"
fi

B="/bin/berth --root /run/berth"
pid_of() { $B state "$1" | sed -n 's/.*"pid": \([0-9]*\).*/\1/p'; }
status_of() { $B state "$1" | sed -n 's/.*"status": "\([a-z]*\)".*/\1/p'; }

# cgroup v2 limits, stats and freezer.
if $B run -d -b /bundles/limits lim; then
	cg=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/$(pid_of lim)/cgroup)
	check "cgroup v2 memory.max" "$(cat $cg/memory.max)" 67108864
	check "cgroup v2 pids.max" "$(cat $cg/pids.max)" 20
	check "cgroup v2 cpu.max" "$(cat $cg/cpu.max)" "50000 100000"
	usage=$($B events --stats lim | sed -n 's/.*"memory":{[^}]*"usage":{[^}]*"usage":\([0-9]*\).*/\1/p')
	if [ -n "$usage" ] && [ "$usage" -gt 0 ]; then ok "cgroup v2 stats: memory usage $usage"; else fail "cgroup v2 stats: no memory usage in $($B events --stats lim | cut -c1-200)"; fi
	$B pause lim
	check "cgroup v2 freezer: cgroup.freeze after pause" "$(cat $cg/cgroup.freeze)" 1
	check "cgroup v2 freezer: status after pause" "$(status_of lim)" paused
	$B resume lim
	check "cgroup v2 freezer: cgroup.freeze after resume" "$(cat $cg/cgroup.freeze)" 0
	$B delete -f lim
	if [ -d "$cg" ]; then fail "cgroup v2: $cg left after delete"; else ok "cgroup v2: cgroup removed on delete"; fi
else
	fail "cgroup v2: berth run -d limits"
fi

# OOM on cgroup v2, as berth events reports it.
# create, watch, then start: the OOM cannot happen before events watches.
if $B create -b /bundles/oom oom; then
	$B events --interval 1s oom > /tmp/oom-events &
	sleep 1
	$B start oom
	i=0; while [ "$(status_of oom)" != stopped ] && [ $i -lt 60 ]; do sleep 0.5; i=$((i+1)); done
	sleep 1
	if grep -q '"type":"oom"' /tmp/oom-events; then ok "cgroup v2 OOM reported by berth events"; else fail "cgroup v2 OOM: events were: $(cut -c1-200 /tmp/oom-events)"; fi
	$B delete -f oom
else
	fail "oom: berth create"
fi

# The default seccomp profile.
check "seccomp default profile" "$($B run -b /bundles/seccomp sc | tr '\n' ' ')" "Seccomp:2 userns-denied "

# AppArmor: berth-default applies and denies a write nothing else denies.
check "apparmor berth-default enforced" "$($B run -b /bundles/apparmor aa 2>&1 | tr '\n' ' ')" "berth-default (enforce) write-denied "
check "apparmor unconfined control" "$($B run -b /bundles/unconfined un 2>&1 | tr '\n' ' ')" "unconfined write-allowed "

echo "VMTEST done"
poweroff -f
