#!/usr/bin/env bash
# The VM lane: boots Debian's kernel under qemu (TCG) with AppArmor and pure
# cgroup v2, runs berth's checks inside (init.sh), and fails on any failure.
#   run.sh GO_BINARY BERTH_STATIC_BINARY
set -euo pipefail
GO=$1
BERTH=$2
here=$(cd "$(dirname "$0")" && pwd)
kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1)
[ -n "$kernel" ] || { echo "test-vm: no kernel in /boot (install linux-image-amd64)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=$work/tree
"$GO" run "$here" "$tree"
apparmor_parser -Q -o "$tree/berth-default.bin" "$tree/berth-default.profile" 2>/dev/null
mkdir -p "$tree/bin" "$tree/proc" "$tree/sys" "$tree/dev"
cp /bin/busybox "$tree/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$tree/bin/$a"; done
install -m 0755 "$BERTH" "$tree/bin/berth"
install -m 0755 "$here/init.sh" "$tree/init"
(cd "$tree" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.gz"
echo "test-vm: booting $(basename "$kernel") under qemu (TCG) with apparmor=1 security=apparmor, cgroup v2"
timeout 600 qemu-system-x86_64 -m 1536 -smp 2 -nographic -no-reboot \
	-kernel "$kernel" -initrd "$work/initramfs.gz" \
	-append "console=ttyS0 quiet panic=-1 apparmor=1 security=apparmor cgroup_no_v1=all" \
	> "$work/serial.log" 2>&1 || true
grep -a "VMTEST" "$work/serial.log" | tr -d '\r' | sed 's/^/  /'
if ! grep -aq "VMTEST done" "$work/serial.log"; then
	echo "test-vm: the guest did not finish; serial log tail:"
	tail -n 30 "$work/serial.log"
	exit 1
fi
fails=$(grep -ac "VMTEST fail" "$work/serial.log" || true)
oks=$(grep -ac "VMTEST ok" "$work/serial.log" || true)
echo "test-vm: $oks passed, $fails failed (cgroup v2 and AppArmor, in a VM)"
# The failed checks again, last: a log cut to its tail still names them.
{ grep -a "VMTEST fail" "$work/serial.log" || true; } | tr -d '\r' | sed 's/^.*VMTEST fail/test-vm: FAILED:/' | cut -c1-600
[ "$fails" -eq 0 ]
