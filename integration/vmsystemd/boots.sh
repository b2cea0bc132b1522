#!/usr/bin/env bash
# Boots the systemd VM lane's guest N times in a row with LANE_BOOT_PROBE=1
# (the boot and each runtime's first run -d under the systemd driver,
# nothing more) and counts the boots whose probe passed, failed or got
# stuck, for a hang that shows once in many boots. Each boot's VMTEST
# lines and, for a stuck one, its diagnosis stay in
# .cache/vm-systemd/boots/N.log.
#   boots.sh N REPO_DIR GO_BINARY [KEY=VALUE ...]   (make vm-systemd-boots)
set -uo pipefail
n=$1 repo=$2
shift 2
out=$repo/.cache/vm-systemd/boots
rm -rf "$out" && mkdir -p "$out"
passed=0 failed=0 stuck=0
for i in $(seq 1 "$n"); do
	start=$(date +%s)
	# No earlier boot's logs: a run.sh that ends early copies none.
	rm -f "$repo/.cache/vm-systemd/last/"*.log
	"$repo/integration/vmsystemd/run.sh" "$repo" "$@" LANE_BOOT_PROBE=1 > "$out/$i.log" 2>&1
	rc=$?
	cp "$repo/.cache/vm-systemd/last/serial.log" "$out/$i-serial.log" 2> /dev/null
	cp "$repo/.cache/vm-systemd/last/frozen-serial.log" "$out/$i-frozen-serial.log" 2> /dev/null
	cp "$repo/.cache/vm-systemd/last/frozen-monitor.log" "$out/$i-frozen-monitor.log" 2> /dev/null
	if grep -q "VMTEST fail stuck\|the guest froze" "$out/$i.log"; then
		stuck=$((stuck + 1)) what=stuck
	elif [ $rc -eq 0 ]; then
		passed=$((passed + 1)) what=passed
	else
		failed=$((failed + 1)) what=failed
	fi
	echo "boot $i: $what in $(($(date +%s) - start)) s: $(grep -o 'boot probe: [a-z]* run -d[^,]*' "$out/$i.log" | tr '\n' ' ')"
done
echo "systemd VM boots: $passed passed, $failed failed, $stuck stuck (of $n)"
[ $((failed + stuck)) -eq 0 ]
