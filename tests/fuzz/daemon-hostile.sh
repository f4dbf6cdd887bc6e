#!/bin/sh
# SPDX-License-Identifier: MIT
# A real xenloopd under fire: tests/fuzz/hostile throws random and mutated
# control messages of every type, with random fds, truncated, oversized
# and empty datagrams, and connections opened and dropped, at its
# namespace socket and its peers socket, and plays a fake peer daemon
# whose answers are right, wrong or mangled (see hostile.c). Afterwards
# the daemon must be alive, back at the fds it had before (hostile checks
# /proc/PID/fd), answer `xenloopctl status --json` with well-formed JSON
# that lists no peer and no connection any more, and stop cleanly on
# SIGTERM (in the sanitizer build that includes LeakSanitizer's verdict).
#
# No namespaces: the daemon serves the namespace the test runs in, from a
# private run directory. HOSTILE_SEED (default 1) and HOSTILE_SECONDS
# (default 4) change the run; a failure names the seed that reproduces it.
# HOSTILE_KEEP=1 keeps the run directory (logs, the longest STATUS).
set -u

bin=./tests/fuzz/hostile
daemon=./daemon/xenloopd
ctl=./daemon/xenloopctl
seed=${HOSTILE_SEED:-1}
secs=${HOSTILE_SECONDS:-4}

for f in "$bin" "$daemon" "$ctl"; do
	[ -x "$f" ] || { echo "daemon-hostile: $f not built"; exit 99; }
done
# the system's python when there is one: a pyenv shim first in PATH takes
# seconds to start on a busy machine
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) ||
	{ echo "daemon-hostile: SKIP: needs python3 (JSON check)"; exit 77; }

# RUNDIR must be short (sockets live in it): /tmp, not a $TMPDIR that may
# be long
run=$(mktemp -d /tmp/xlh.XXXXXX) || exit 99
dpid=
cleanup() {
	if [ -n "$dpid" ] && kill -0 "$dpid" 2>/dev/null; then
		kill -KILL "$dpid" 2>/dev/null
		wait "$dpid" 2>/dev/null
	fi
	# HOSTILE_KEEP=1: leave the logs for a look
	[ -n "${HOSTILE_KEEP:-}" ] && echo "daemon-hostile: kept $run" ||
		rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM

fail() {
	echo "daemon-hostile: FAIL: $*"
	echo "--- the daemon's log (last 40 lines)"
	tail -n 40 "$run/daemon.log"
	echo "--- hostile's last steps"
	tail -n 10 "$run/ops.log" 2>/dev/null
	echo "daemon-hostile: reproduce: HOSTILE_SEED=$seed" \
		"HOSTILE_SECONDS=$secs make check" \
		"TESTS=tests/fuzz/daemon-hostile.sh"
	exit 1
}

# The JSON documents, checked in one go at the end: before.json and after.json are xenloopctl's, the
# longest STATUS hostile saw under load (cut short if it lists too many
# connections) is bulk.json; after the attack no peer and no connection
# may be left.
json_ok() {
	"$py" -I - "$run" "$dpid" <<'EOF2'
import json, os, sys
run, pid = sys.argv[1], int(sys.argv[2])
def load(name):
    with open(os.path.join(run, name)) as f:
        return json.load(f)
for name in ("before.json", "after.json"):
    d = load(name)
    assert d["daemon"]["pid"] == pid, name + ": another daemon answered"
    assert isinstance(d["truncated"], bool), name + ": no truncated flag"
d = load("after.json")
assert d["peers"] == [], "peers left: %r" % d["peers"]
assert d["connections"] == [], "%d connections left" % len(d["connections"])
if os.path.exists(os.path.join(run, "bulk.json")):
    d = load("bulk.json")
    assert isinstance(d["truncated"], bool) and "totals" in d
EOF2
}

status() {
	XENLOOP_RUNDIR=$run timeout 10 "$ctl" status --json >"$run/$1"
}

# the shortest timeout there is, so that what waits runs out in the run
printf 'match_timeout_ms = 100\nring_order = 12\n' >"$run/conf"
"$daemon" -d -v -f "$run/conf" -r "$run" >"$run/daemon.log" 2>&1 &
dpid=$!
ino=$(stat -L -c %i /proc/self/ns/net)
i=0
until [ -S "$run/ns/$ino.sock" ]; do
	i=$((i + 1))
	[ $i -le 50 ] || fail "xenloopd did not come up"
	sleep 0.1
done
status before.json || fail "no status before the attack"

timeout $((secs + 60)) "$bin" -r "$run" -p "$dpid" -s "$seed" \
	-t "$secs" -n 10000000 -l "$run/ops.log" -j "$run/bulk.json" ||
	fail "hostile reported a failure"
kill -0 "$dpid" 2>/dev/null || fail "xenloopd died"
status after.json || fail "no status after the attack"
json_ok || fail "bad STATUS document (before.json, after.json, bulk.json)"

# a clean exit, within 10 s (until wait, an exited daemon is a zombie)
kill -TERM "$dpid"
i=0
while ! grep -q '^State:[[:space:]]*Z' "/proc/$dpid/status" 2>/dev/null &&
	[ -e "/proc/$dpid" ]; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "xenloopd did not stop within 10 s of SIGTERM"
	sleep 0.1
done
wait "$dpid"
rc=$?
dpid=
[ $rc -eq 0 ] || fail "xenloopd exited with status $rc after SIGTERM"
grep -q 'ERROR: \(AddressSanitizer\|LeakSanitizer\)\|runtime error' \
	"$run/daemon.log" && fail "sanitizer report from xenloopd"
echo "daemon-hostile: seed $seed, ${secs}s: xenloopd survived, no fd leak," \
	"status well formed, clean exit"
exit 0
