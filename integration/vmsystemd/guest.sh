#!/bin/sh
# The systemd VM lane's checks, run by berth-vmtest.service in the guest
# (systemd as pid 1, pure cgroup v2). Each check runs with berth and with
# runc v1.5.2 and prints "VMTEST ok|fail NAME: berth VALUE, runc VALUE";
# a check fails when berth's value is not the expected one (runc's is
# shown beside it; where runc differs, the line says so).
set -u
L=/run/berth-lane
. $L/env
BERTH=$REPO/bin/berth
RUNC=$REPO/.cache/conformance/runc/runc
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ok() { echo "VMTEST ok $*"; }
fail() { echo "VMTEST fail $*"; }
echo "VMTEST kernel $(uname -r), pid 1 $(cat /proc/1/comm), /sys/fs/cgroup $(stat -f -c %T /sys/fs/cgroup), systemd $(systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p'), system state $(systemctl is-system-running)"
[ "$(cat /proc/1/comm)" = systemd ] && [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] || { fail "the guest is not systemd on cgroup v2"; echo "VMTEST done"; exit 1; }

# record RUNTIME NAME VALUE: one observed value.
record() { printf '%s|%s\n' "$2" "$3" >> "$L/values-$1"; }
value() { sed -n "s/^$2|//p" "$L/values-$1" | head -n1; }

# cli_checks RUNTIME BINARY: the systemd cgroup driver through the CLI.
cli_checks() {
	rt=$1
	R="$2 --systemd-cgroup --root /run/lane-$rt"
	b=$L/bundles/$rt
	unit=lane-$rt-limits.scope
	cg=/sys/fs/cgroup/system.slice/$unit
	: > "$L/values-$rt"
	if ! $R run -d -b "$b/limits" limits > "$L/$rt-run.log" 2>&1; then
		record "$rt" "run -d" "failed: $(tail -n1 "$L/$rt-run.log")"
		return
	fi
	record "$rt" "run -d" ok
	pid=$($R state limits | jq -r .pid)
	record "$rt" "scope ActiveState" "$(systemctl show -P ActiveState "$unit")"
	record "$rt" "scope Slice" "$(systemctl show -P Slice "$unit")"
	record "$rt" "scope MemoryMax" "$(systemctl show -P MemoryMax "$unit")"
	record "$rt" "scope TasksMax" "$(systemctl show -P TasksMax "$unit")"
	record "$rt" "scope CPUQuotaPerSecUSec" "$(systemctl show -P CPUQuotaPerSecUSec "$unit")"
	record "$rt" "annotation TimeoutStopUSec" "$(systemctl show -P TimeoutStopUSec "$unit")"
	record "$rt" "annotation CollectMode" "$(systemctl show -P CollectMode "$unit")"
	record "$rt" "init in the scope's cgroup" "$(grep -qx "$pid" "$cg/cgroup.procs" && echo yes || echo no)"
	record "$rt" "memory.max" "$(cat "$cg/memory.max")"
	record "$rt" "pids.max" "$(cat "$cg/pids.max")"
	record "$rt" "cpu.max" "$(cat "$cg/cpu.max")"
	record "$rt" "exec" "$($R exec limits sh -c 'echo ok' 2>&1)"
	$R update --memory 100M --pids-limit 30 limits > "$L/$rt-update.log" 2>&1 || record "$rt" "update" "failed: $(tail -n1 "$L/$rt-update.log")"
	record "$rt" "update: memory.max" "$(cat "$cg/memory.max")"
	record "$rt" "update: scope MemoryMax" "$(systemctl show -P MemoryMax "$unit")"
	record "$rt" "update: pids.max" "$(cat "$cg/pids.max")"
	record "$rt" "update: scope TasksMax" "$(systemctl show -P TasksMax "$unit")"
	record "$rt" "exec after update" "$($R exec limits sh -c 'echo ok' 2>&1)"
	$R pause limits
	record "$rt" "pause: status" "$($R state limits | jq -r .status)"
	record "$rt" "pause: cgroup.freeze" "$(cat "$cg/cgroup.freeze")"
	$R resume limits
	record "$rt" "resume: status" "$($R state limits | jq -r .status)"
	record "$rt" "resume: cgroup.freeze" "$(cat "$cg/cgroup.freeze")"
	stats=$($R events --stats limits)
	record "$rt" "events --stats: memory usage above 0" "$(echo "$stats" | jq '.data.memory.usage.usage > 0')"
	record "$rt" "events --stats: pids" "$(echo "$stats" | jq '.data.pids.current')"
	record "$rt" "events --stats: memory limit" "$(echo "$stats" | jq '.data.memory.usage.limit')"
	$R delete -f limits
	record "$rt" "delete: scope LoadState" "$(systemctl show -P LoadState "$unit")"
	record "$rt" "delete: cgroup" "$([ -d "$cg" ] && echo left || echo removed)"
	record "$rt" "delete: state" "$($R list -q | grep -c . )"

	# OOM under the systemd driver, as events reports it.
	$R create -b "$b/oom" oom > "$L/$rt-oom.log" 2>&1
	$R events --interval 1s oom > "$L/$rt-oom-events" 2>&1 &
	evpid=$!
	sleep 1
	$R start oom
	i=0; while [ "$($R state oom | jq -r .status)" != stopped ] && [ $i -lt 60 ]; do sleep 0.5; i=$((i+1)); done
	sleep 2
	record "$rt" "oom: events" "$(grep -c '"type":"oom"' "$L/$rt-oom-events")"
	kill "$evpid" 2>/dev/null
	$R delete -f oom
}

cli_checks berth "$BERTH"
cli_checks runc "$RUNC"

# expect NAME WANT: berth must show WANT; runc is reported beside it.
expect() {
	b=$(value berth "$1"); r=$(value runc "$1")
	note=""
	[ "$r" = "$2" ] || note=" (runc differs)"
	if [ "$b" = "$2" ]; then ok "systemd cgroup, $1: berth $b, runc $r$note"; else fail "systemd cgroup, $1: berth '$b', want '$2'; runc '$r'"; fi
}
expect "run -d" ok
expect "scope ActiveState" active
expect "scope Slice" system.slice
expect "scope MemoryMax" 67108864
expect "scope TasksMax" 20
expect "scope CPUQuotaPerSecUSec" 500ms
expect "annotation TimeoutStopUSec" "2min 3.456789s"
expect "annotation CollectMode" inactive-or-failed
expect "init in the scope's cgroup" yes
expect "memory.max" 67108864
expect "pids.max" 20
expect "cpu.max" "50000 100000"
expect "exec" ok
expect "update: memory.max" 104857600
expect "update: scope MemoryMax" 104857600
expect "update: pids.max" 30
expect "update: scope TasksMax" 30
expect "exec after update" ok
expect "pause: status" paused
expect "pause: cgroup.freeze" 1
expect "resume: status" running
expect "resume: cgroup.freeze" 0
expect "events --stats: memory usage above 0" true
expect "events --stats: pids" 1
expect "events --stats: memory limit" 104857600
expect "delete: scope LoadState" not-found
expect "delete: cgroup" removed
expect "delete: state" 0
# One hog, one kill: the scope is gone with its last process, so its
# oom_kill counter cannot be read afterwards.
expect "oom: events" 1
echo "VMTEST done"
