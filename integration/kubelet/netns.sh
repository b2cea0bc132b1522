#!/usr/bin/env bash
# Runs a command (the kubelet lane's test binary) in a mount and network
# namespace of its own, so that the kubelet, the node e2e suite's API
# server and etcd, containerd and the CNI bridge leave nothing on the host:
#   - a tmpfs over /tmp, /run, /var/lib and /var/log (the suite's keys,
#     the kubelet's /var/lib/kubelet and /var/log/pods, CNI's cache,
#     network namespace files);
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
for d in /tmp /run /var/lib /var/log; do
	mount -t tmpfs -o mode=0755 berth-kubelet-lane "$d"
done
chmod 1777 /tmp
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
