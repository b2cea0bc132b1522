#!/usr/bin/env bash
# The systemd VM lane (make test-vm-systemd): boots Debian's kernel under
# qemu (TCG) with systemd as pid 1 and pure cgroup v2, on the host's own
# root, read-only over 9p under a tmpfs overlay (so the guest runs the very
# binaries the host built: berth, runc v1.5.2, containerd 2.2.1, critest),
# runs guest.sh there, and fails on any failed check.
#   run.sh REPO_DIR GO_BINARY [KEY=VALUE ...]
# The initramfs is cached per kernel under .cache/vm-systemd.
set -euo pipefail
repo=$(cd "$1" && pwd)
GO=$2
shift 2
here=$repo/integration/vmsystemd
cache=$repo/.cache/vm-systemd
kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1)
[ -n "$kernel" ] || { echo "test-vm-systemd: no kernel in /boot (install linux-image-amd64)"; exit 1; }
kver=${kernel#/boot/vmlinuz-}
[ -x /lib/systemd/systemd ] || { echo "test-vm-systemd: no /lib/systemd/systemd (install systemd)"; exit 1; }
mkdir -p "$cache"

initramfs=$cache/initramfs-$kver.gz
stamp=$(cat "$here/initramfs-init.sh" "$here/berth-vmtest.target" "$here/berth-vmtest.service" | sha256sum | cut -c1-16)
if [ ! -s "$initramfs" ] || [ "$(cat "$initramfs.stamp" 2>/dev/null)" != "$stamp" ]; then
	tree=$(mktemp -d)
	mkdir -p "$tree/bin" "$tree/proc" "$tree/sys" "$tree/dev" "$tree/modules" "$tree/lane"
	cp /bin/busybox "$tree/bin/busybox"
	for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$tree/bin/$a"; done
	: > "$tree/modules.order"
	for mod in virtio_pci 9pnet_virtio 9p overlay; do
		modprobe -S "$kver" --show-depends "$mod" | awk '$1 == "insmod" {print $2}'
	done | awk '!seen[$0]++' | while read -r ko; do
		cp "$ko" "$tree/modules/"
		basename "$ko" >> "$tree/modules.order"
	done
	cp "$here/berth-vmtest.target" "$here/berth-vmtest.service" "$tree/lane/"
	install -m 0755 "$here/initramfs-init.sh" "$tree/init"
	(cd "$tree" && find . | cpio -o -H newc --quiet | gzip -1) > "$initramfs.tmp"
	mv "$initramfs.tmp" "$initramfs"
	echo "$stamp" > "$initramfs.stamp"
	rm -rf "$tree"
fi

# The lane's share: the guest's script and its environment in, logs out.
lane=$(mktemp -d /tmp/berth-vm-systemd.XXXXXX)
# The guest's unprivileged user reads its rootless bundle there.
chmod 755 "$lane"
trap 'rm -rf "$lane"' EXIT
cp "$here/guest.sh" "$lane/lane.sh"
(cd "$repo" && GOWORK=off "$GO" run -tags seccomp ./integration/vmsystemd "$lane")
# The console socket's receiver of the terminal checkpoint.
(cd "$repo" && "$GO" build -o "$lane/recvtty" ./integration/cmd/recvtty)
# LANE_PART=kubelet: the kubelet part alone (guest-kubelet.sh), with the
# kubelet lane's test; otherwise the CRI lane's tests. Each built here
# with the Makefile's flags, run there.
part=
for kv in "$@"; do case $kv in LANE_PART=*) part=${kv#LANE_PART=} ;; esac; done
if [ "$part" = kubelet ]; then
	cp "$here/guest-kubelet.sh" "$lane/lane-kubelet.sh"
	(cd "$repo" && "$GO" test -c -o "$lane/kubelet.test" ./integration/kubelet)
else
	(cd "$repo" && "$GO" test -c -o "$lane/cri.test" ./integration/cri)
fi
{
	echo "REPO=$repo"
	for kv in "$@"; do echo "$kv"; done
} > "$lane/env"
# The lane's budget is 12 minutes, failing or not: qemu gets
# VM_SYSTEMD_TIMEOUT (705 s), and the guest's watchdog ends the lane, with
# a diagnosis, before that. A guest that cannot say anything itself is
# made to: the guest prints a heartbeat on its console every 20 s, and
# when its console has been silent for 60 s (frozen), or 20 s before the
# budget's end, the magic SysRq keys (through qemu's monitor) print what
# each CPU runs and the blocked tasks, and qemu is killed.
budget=${VM_SYSTEMD_TIMEOUT:-705}
# boot: one boot of the guest; sets frozen when its console went silent.
boot() {
	rm -f "$lane/monitor.in" "$lane/monitor.out"
	mkfifo "$lane/monitor.in" "$lane/monitor.out"
	cat "$lane/monitor.out" > "$lane/monitor.log" &
	local drain=$! qemu size last_size=-1 last_change
	qemu-system-x86_64 -m 6144 -smp 2 -cpu max -nographic -no-reboot -nic none \
		-monitor pipe:"$lane/monitor" \
		-kernel "$kernel" -initrd "$initramfs" \
		-append "console=ttyS0 panic=-1 quiet sysctl.kernel.sysrq=1 apparmor=1 security=apparmor systemd.unit=berth-vmtest.target systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all systemd.show_status=0" \
		-fsdev local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap \
		-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
		-fsdev local,id=lane,path="$lane",security_model=passthrough,multidevs=remap \
		-device virtio-9p-pci,fsdev=lane,mount_tag=lane \
		-fsdev local,id=repo,path="$repo",security_model=passthrough,readonly=on,multidevs=remap \
		-device virtio-9p-pci,fsdev=repo,mount_tag=repo \
		> "$lane/serial.log" 2>&1 &
	qemu=$!
	frozen= dumped=
	last_change=$(date +%s)
	while kill -0 $qemu 2> /dev/null; do
		now=$(date +%s)
		size=$(stat -c %s "$lane/serial.log")
		if [ "$size" != "$last_size" ]; then
			last_size=$size last_change=$now
		fi
		# Until the lane prints (its heartbeat with it), the boot's own
		# quiet stretch: 150 s.
		silence=${VM_FREEZE_SECONDS:-60}
		grep -aq VMTEST "$lane/serial.log" || silence=150
		if [ -z "$dumped" ] && { [ $((now - last_change)) -ge "$silence" ] || [ $((now - start)) -ge $((budget - 20)) ]; }; then
			dumped=1
			[ $((now - last_change)) -ge "$silence" ] && frozen=$((now - last_change))
			echo "test-vm-systemd: the guest's console silent for $((now - last_change)) s, $((now - start)) s in: SysRq l (each CPU's backtrace) and w (blocked tasks), then qemu killed"
			# 9 first: the console's log level up, past "quiet".
			# And each vCPU's registers from qemu itself, for CPUs that
			# spin with interrupts off and so answer no SysRq.
			{ echo "sendkey alt-sysrq-9"; sleep 1; echo "sendkey alt-sysrq-l"; sleep 3; echo "sendkey alt-sysrq-w"; sleep 5
				echo "info registers -a"; sleep 1; } > "$lane/monitor.in"
			kill -9 $qemu
			break
		fi
		if [ $((now - start)) -ge "$budget" ]; then
			echo "test-vm-systemd: the guest ran past its $budget s: qemu killed"
			kill -9 $qemu
			break
		fi
		sleep 1
	done
	wait $qemu 2> /dev/null || true
	kill $drain 2> /dev/null || true
}
# sysrq_dump: the SysRq part of the serial log, and where each vCPU was
# (its RIP, named from the guest's /proc/kallsyms, which guest.sh saves:
# equal-length hex addresses sort as numbers).
# It never fails: a guest that answers no SysRq prints nothing here, and
# under set -e and pipefail an empty grep would end the script before the
# second boot and the copy of the logs.
sysrq_dump() {
	if grep -aq sysrq "$lane/serial.log"; then
		awk '/sysrq/ {on = 1} on' "$lane/serial.log" | tr -d '\r' | { grep -av heartbeat || true; } | head -n 300
	else
		echo "test-vm-systemd: the guest printed nothing for SysRq; its serial log's last lines:"
		tail -n 15 "$lane/serial.log" | tr -d '\r'
	fi
	local cpu=0 rip
	for rip in $(tr -d '\r' < "$lane/monitor.log" | { grep -ao 'RIP=[0-9a-f]*' || true; } | cut -d= -f2); do
		echo "test-vm-systemd: vCPU $cpu at $rip: $({ cat "$lane/kallsyms" 2> /dev/null; echo "$rip ~"; } | sort | grep -B1 " ~$" | head -n1 | awk '{print $3}')"
		cpu=$((cpu + 1))
	done
}

echo "test-vm-systemd: booting $(basename "$kernel") under qemu (TCG), systemd as pid 1, pure cgroup v2, the host's root over 9p"
start=$(date +%s)
boot
# A guest frozen before its first check (seen at the first systemd-driver
# run -d of both runtimes at once, 1 boot in 59 here) is booted again,
# once, and says so; a freeze later fails the lane.
if [ -n "$frozen" ] && ! grep -aqE "VMTEST (ok|fail|known)" "$lane/serial.log"; then
	echo "test-vm-systemd: the guest froze before its first check ($frozen s without a heartbeat); its SysRq dump, then a second boot:"
	sysrq_dump
	mv "$lane/serial.log" "$lane/frozen-serial.log"
	mv "$lane/monitor.log" "$lane/frozen-monitor.log" 2> /dev/null || true
	rm -f "$lane"/values-* "$lane"/*-run.log
	# The second boot gets the whole budget: the first took about 100 s.
	start=$(date +%s)
	boot
fi
end=$(date +%s)
# The guest's logs stay for a look after the run.
rm -rf "$cache/last" && mkdir -p "$cache/last" && cp "$lane"/*.log "$cache/last/" 2>/dev/null || true
grep -a "VMTEST" "$lane/serial.log" | grep -av "VMTEST heartbeat" | tr -d '\r' | sed 's/^.*VMTEST/  VMTEST/' | awk '!seen[$0]++' || true
if ! grep -aq "VMTEST done" "$lane/serial.log"; then
	echo "test-vm-systemd: the guest did not finish; serial log tail:"
	if [ -n "$dumped" ] && grep -aq "sysrq" "$lane/serial.log"; then
		# From the SysRq dumps on: where the guest's CPUs and tasks were.
		sysrq_dump
	else
		tail -n 40 "$lane/serial.log" | tr -d '\r'
	fi
	for f in "$lane"/*.log; do
		case $f in "$lane/serial.log" | "$lane/monitor.log") ;; *) echo "--- $f"; tail -n 20 "$f" ;; esac
	done
	exit 1
fi
fails=$({ grep -a "VMTEST fail" "$lane/serial.log" || true; } | awk '!seen[$0]++' | wc -l)
oks=$({ grep -a "VMTEST ok" "$lane/serial.log" || true; } | awk '!seen[$0]++' | wc -l)
known=$({ grep -a "VMTEST known" "$lane/serial.log" || true; } | awk '!seen[$0]++' | wc -l)
echo "test-vm-systemd: $oks passed, $fails failed, $known known (failing with runc too, or a race no runtime wins) (systemd as pid 1, cgroup v2, in a VM) in $((end - start)) s"
# The failed checks again, last: a log cut to its tail still names them.
{ grep -a "VMTEST fail" "$lane/serial.log" || true; } | tr -d '\r' | sed 's/^.*VMTEST fail/test-vm-systemd: FAILED:/' | awk '!seen[$0]++' | cut -c1-600
[ "$fails" -eq 0 ]
