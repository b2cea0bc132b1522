#!/usr/bin/env bash
# Runs a command (the kubelet lane's test binary) in a mount and network
# namespace of its own, so that the kubelet, the node e2e suite's API
# server and etcd, containerd and the CNI bridge leave nothing on the host:
#   - a tmpfs over /tmp, /run, /var/lib and /var/log (the suite's keys,
#     the kubelet's /var/lib/kubelet and /var/log/pods, CNI's cache,
#     network namespace files), the working directory (make's: the
#     repository) bound back when it is below /tmp;
#   - a network namespace of its own: loopback, a veth pair for the
#     node's address (10.99.0.1, the default route's), and the CNI bridge,
#     iptables rules and ip_forward the lane makes;
#   - systemd-run hidden (/dev/null bound over it): the suite starts the
#     kubelet with systemd-run when it finds it, and this host has no
#     systemd as pid 1;
#   - a cgroup of its own, /berth-kubelet-lane in each cgroup v1
#     hierarchy, for the lane's processes (containerd among them: the
#     kubelet's runtime cgroup), removed after.
# The namespaces end with their last process.
#   netns.sh COMMAND [ARG ...]
set -euo pipefail
cgroup=berth-kubelet-lane
dirs=()
for m in $(awk '$3 == "cgroup" { print $2 }' /proc/mounts); do
	mkdir -p "$m/$cgroup"
	# cgroup v1's cpuset takes no process until its CPUs and memory nodes
	# are set: the parent's.
	if [ -f "$m/cpuset.cpus" ]; then
		cat "$m/cpuset.cpus" > "$m/$cgroup/cpuset.cpus"
		cat "$m/cpuset.mems" > "$m/$cgroup/cpuset.mems"
	fi
	dirs+=("$m/$cgroup")
done
# The working directory must stay visible: /tmp is handled below; the
# others the lane covers are refused.
case $PWD/ in
/run/* | /var/lib/* | /var/log/*)
	echo "netns.sh: the working directory $PWD is below a directory the lane covers with a tmpfs" >&2
	exit 1
	;;
esac
export BERTH_KUBELET_LANE_KEEP=$PWD
rc=0
unshare --mount --net --propagation private -- bash -c '
set -euo pipefail
# Arguments: the number of cgroup directories, the directories, the
# command.
for d in "${@:2:$1}"; do
	echo $$ > "$d/cgroup.procs"
done
shift $(($1 + 1))
ip link set lo up
# The node'"'"'s address: the API server and the kubelet take the address of
# the default route'"'"'s interface, and this host has no dummy netdev, so a
# veth pair whose other end leads nowhere.
ip link add berth-node0 type veth peer name berth-node1
ip addr add 10.99.0.1/24 dev berth-node0
ip link set berth-node0 up
ip link set berth-node1 up
ip route add default via 10.99.0.2 dev berth-node0
for d in /run /var/lib /var/log; do
	mount -t tmpfs -o mode=0755 berth-kubelet-lane "$d"
done
# /tmp too, but the working directory (the repository: the binaries and
# the lane'"'"'s directory) stays visible when it is below /tmp, bound back
# from the host'"'"'s /tmp.
mkdir -p /run/berth-kubelet-lane/host-tmp
mount --bind /tmp /run/berth-kubelet-lane/host-tmp
mount -t tmpfs -o mode=1777 berth-kubelet-lane /tmp
case $BERTH_KUBELET_LANE_KEEP in
/tmp/*)
	mkdir -p "$BERTH_KUBELET_LANE_KEEP"
	mount --bind "/run/berth-kubelet-lane/host-tmp/${BERTH_KUBELET_LANE_KEEP#/tmp/}" "$BERTH_KUBELET_LANE_KEEP"
	;;
esac
mkdir -p /run/lock /var/lib/cni
# Name lookups answer at once: the node names resolve to the node'"'"'s
# address in /etc/hosts, and the only name server is that address, where
# nothing listens (the host'"'"'s are out of reach, and each lookup of the
# node'"'"'s name would wait out their timeouts, which delays the kubelet'"'"'s
# registration past what the suite waits for).
mkdir -p /run/berth-kubelet-lane/bin
{ cat /etc/hosts; echo "10.99.0.1 berth-kubelet-lane berth-lane"; } > /run/berth-kubelet-lane/hosts
echo "nameserver 10.99.0.1" > /run/berth-kubelet-lane/resolv.conf
mount --bind /run/berth-kubelet-lane/hosts /etc/hosts
mount --bind /run/berth-kubelet-lane/resolv.conf /etc/resolv.conf
if run=$(command -v systemd-run); then
	mount --bind /dev/null "$run"
fi
# The suite runs some commands through sudo (memory.force_empty on cgroup
# v1); the lane runs as root, and this host may have no sudo.
printf "#!/bin/sh\nexec \"\$@\"\n" > /run/berth-kubelet-lane/bin/sudo
chmod 755 /run/berth-kubelet-lane/bin/sudo
PATH=/run/berth-kubelet-lane/bin:$PATH BERTH_KUBELET_LANE_NS=1 BERTH_KUBELET_LANE_CGROUP=/'"$cgroup"' exec "$@"' \
	netns.sh "${#dirs[@]}" "${dirs[@]}" "$@" || rc=$?
# The lane's cgroups, deepest first; one still holding a process stays,
# and says so.
for d in "${dirs[@]}"; do
	find "$d" -depth -type d -exec rmdir {} + 2> /dev/null || true
	if [ -d "$d" ]; then
		echo "netns.sh: cgroup $d left: processes $(cat "$d/cgroup.procs" 2> /dev/null | tr '\n' ' ')" >&2
		rc=1
	fi
done
exit $rc
