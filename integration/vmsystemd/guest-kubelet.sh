# The kubelet part of the systemd VM lane (LANE_PART=kubelet, make
# test-vm-systemd-kubelet), sourced by guest.sh once systemd answers on
# the bus: containerd 2.3.7 with SystemdCgroup = true for the runc shim
# and berth-sandbox (pods without a pause container), and a kubelet with
# cgroupDriver: systemd registered with the node e2e suite's API server,
# each handler in turn: the kubelet lane's short scenarios (a pod ready by
# its exec, HTTP and TCP probes, the summary API, logs and their rotation,
# a pod resized in place then probed, the pods' removal; then nothing
# left: no kubepods slice, no shim). Uses guest.sh's ok, fail, took,
# bounded and its budget.
KL=$REPO/.cache/kubelet
if [ ! -x "$L/kubelet.test" ] || [ ! -x "$KL/kubelet" ]; then
	fail "kubelet: no kubelet or lane test (make kubelet-bin, then run.sh builds kubelet.test)"
	return
fi
# The node's address, as netns.sh gives the host lane's: the kubelet and
# the API server take the default route's interface, and the guest has no
# network card. The node's name resolves at once to it.
modprobe veth 2> /dev/null
ip link add berth-node0 type veth peer name berth-node1 &&
	ip addr add 10.99.0.1/24 dev berth-node0 &&
	ip link set berth-node0 up && ip link set berth-node1 up &&
	ip route add default via 10.99.0.2 dev berth-node0 ||
	fail "kubelet: the node's address (a veth pair)"
echo "10.99.0.1 berth-lane" >> /etc/hosts
rm -f /etc/resolv.conf && echo "nameserver 10.99.0.1" > /etc/resolv.conf
handlers=${LANE_KUBELET_HANDLERS:-runc,berth-sandbox}
start=$(date +%s)
kubelet_budget=$((LANE_GUEST_BUDGET - (start - lane_start) - 25))
(cd "$REPO/integration/kubelet" && BERTH_KUBELET_LANE_NS=1 KUBELET_BIN_DIR=$KL KUBELET_LANE_DIR=$TMPDIR/kubelet-lane \
	KUBELET_VERSION=$KUBELET_VERSION KUBELET_SCENARIOS_ONLY=1 KUBELET_SCENARIOS=short KUBELET_HANDLERS=$handlers \
	KUBELET_CGROUP_DRIVER=systemd KUBELET_APISERVER_TIMEOUT=4m \
	"$L/kubelet.test" -test.v -test.count=1 -test.timeout "$kubelet_budget"s -test.run '^TestKubelet$') > "$L/kubelet.log" 2>&1
rc=$?
grep -E "^  \[lane\]|^[a-z-]+: ([0-9]+ passed|not run)|passes with" "$L/kubelet.log" | sed 's/^ */VMTEST info /'
for h in $(echo "$handlers" | tr ',' ' '); do
	counts=$(grep -E "^$h: [0-9]+ passed" "$L/kubelet.log")
	case $counts in
	"") fail "kubelet, systemd driver, containerd 2.3.7, $h: no counts (see kubelet.log)" ;;
	*", 0 failed"*) ok "kubelet, systemd driver, containerd 2.3.7: $counts" ;;
	*) fail "kubelet, systemd driver, containerd 2.3.7: $counts" ;;
	esac
done
# Nothing left: no pod or kubepods slice, no shim, no container mount.
left=$(systemctl list-units --all --no-legend 'kubepods*' 2> /dev/null | awk '{print $1}' | tr '\n' ' ')
shims=$(ps -eo args | grep -c '[c]ontainerd-shim')
mounts=$(grep -c "$TMPDIR/kubelet-lane" /proc/mounts)
if [ $rc -eq 0 ] && [ -z "$left" ] && [ "$shims" = 0 ] && [ "$mounts" = 0 ]; then
	ok "kubelet with the systemd driver: every scenario passed with $handlers, nothing left ($(($(date +%s) - start)) s)"
else
	fail "kubelet with the systemd driver (exit $rc): units left: ${left:-none}; shims left: $shims; mounts left: $mounts; $(grep -E -- "--- FAIL|_test.go:[0-9]+:" "$L/kubelet.log" | head -n 8 | tr '\n' ' ')"
fi
took "the kubelet checks"
