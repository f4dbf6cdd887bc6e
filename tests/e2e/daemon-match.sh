#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# xenloopd matching without the preload library (docs/protocol.md §1, §2,
# §6). tests/e2e/ctl_probe plays the library at each end of a real TCP
# connection between two namespaces: it registers the accepted and the
# connected socket with its daemon, and on CHAN attaches to the channel
# and checks data both ways through the ring. Then the cases that must
# stay on TCP, a hostile client, statistics, a second daemon, bad
# configuration, a daemon killed with SIGKILL and a clean shutdown.
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

xl_require_root
xl_require_cmd python3 timeout
# The system's interpreter when there is one: a version manager's shim
# (pyenv) can take seconds a call on a busy machine, longer than the
# probes below keep their connections open for us to look at.
[ -x /usr/bin/python3 ] && python3() { /usr/bin/python3 "$@"; }
PROBE=$XL_BUILDDIR/tests/e2e/ctl_probe
[ -x "$PROBE" ] || xl_skip "ctl_probe not built ($PROBE)"
[ -x "$XL_CTL" ] || xl_skip "xenloopctl not built ($XL_CTL)"

xl_setup_net
CONF=$XL_RUNDIR/test.conf
OUT=$XL_RUNDIR/out
mkdir -p "$OUT"
printf '# short timeouts keep the test short\nmatch_timeout_ms = 1000\n' >"$CONF"

probe() {
	local ns=$1
	shift
	timeout 30 ip netns exec "$ns" "$PROBE" -r "$XL_RUNDIR" "$@"
}

# jget NS EXPR: evaluate the Python expression EXPR on NS's status (d).
jget() {
	xl_status_json "$1" |
		python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"
}

expect_eq() {	# what got want
	[ "$2" = "$3" ] || xl_fail "$1: got '$2', expected '$3'"
	xl_log "ok: $1 = $3"
}

# pair NAME SERVER_NS SERVER_ARGS... -- CLIENT_NS CLIENT_ARGS...: run both
# ends; their output in $OUT/NAME.server and $OUT/NAME.client.
pair() {
	local name=$1 sns=$2 cns spid cpid rc=0 sargs=()
	shift 2
	while [ "$1" != -- ]; do sargs+=("$1"); shift; done
	shift
	cns=$1
	shift
	probe "$sns" server "${sargs[@]}" >"$OUT/$name.server" &
	spid=$!
	xl_pids+=("$spid")
	probe "$cns" client "$@" >"$OUT/$name.client" &
	cpid=$!
	xl_pids+=("$cpid")
	wait "$cpid" || rc=1
	wait "$spid" || rc=1
	xl_log "$name: client: $(cat "$OUT/$name.client")"
	xl_log "$name: server: $(cat "$OUT/$name.server")"
	[ $rc -eq 0 ] || xl_fail "$name: a probe did not get what it expected"
}

xl_start_daemon "$XL_NS_A" -f "$CONF"
PID_A=$XL_LAST_PID
xl_start_daemon "$XL_NS_B" -f "$CONF"
PID_B=$XL_LAST_PID
xl_wait_peers "$XL_NS_A" "$XL_NS_B"
NAME_A=$(jget "$XL_NS_A" 'd["daemon"]["name"]')
NAME_B=$(jget "$XL_NS_B" 'd["daemon"]["name"]')

# ---- discovery ----
expect_eq "a's peer" "$(jget "$XL_NS_A" '[p["name"] for p in d["peers"]]')" "['$NAME_B']"
expect_eq "b's addresses as a sees them" \
	"$(jget "$XL_NS_A" '"198.18.0.2" in d["peers"][0]["addrs"] and "2001:2::2" in d["peers"][0]["addrs"]')" True
grep -qx 198.18.0.1 "$XL_RUNDIR/peers/$NAME_A.addrs" || xl_fail "a's .addrs lacks 198.18.0.1"
grep -q '^127\.' "$XL_RUNDIR/peers/$NAME_A.addrs" && xl_fail "a advertises loopback"
ip netns exec "$XL_NS_A" env XENLOOP_RUNDIR="$XL_RUNDIR" "$XL_CTL" status |
	grep -q "$NAME_B .*198.18.0.2" || xl_fail "xenloopctl status table lacks the peer"

# ---- a channel over IPv4, checked while it is up and after CLOSE ----
probe "$XL_NS_B" server -a 198.18.0.2 -p 5201 --in 1048576 --out 300000 \
	--tcp-in 5 --linger 4000 >"$OUT/v4.server" &
SPID=$!
xl_pids+=("$SPID")
probe "$XL_NS_A" client -a 198.18.0.2 -p 5201 --out 1048576 --in 300000 \
	--tcp-out 5 --linger 4000 >"$OUT/v4.client" &
CPID=$!
xl_pids+=("$CPID")
xl_wait_for 10 grep -q 'result: chan' "$OUT/v4.client" || xl_fail "v4: no channel"
xl_wait_for 10 grep -q 'result: chan' "$OUT/v4.server" || xl_fail "v4: no channel (server)"
sleep 0.3	# the STATS that follow the result line
expect_eq "a: live connection" \
	"$(jget "$XL_NS_A" '[(c["role"], c["state"], c["remote"], c["ring_tx"], c["ring_rx"], c["tcp_tx"]) for c in d["connections"]]')" \
	"[('client', 'ring', '198.18.0.2:5201', 1048576, 300000, 5)]"
expect_eq "b: live connection" \
	"$(jget "$XL_NS_B" '[(c["role"], c["state"], c["local"], c["ring_tx"], c["ring_rx"], c["tcp_rx"]) for c in d["connections"]]')" \
	"[('server', 'ring', '198.18.0.2:5201', 300000, 1048576, 5)]"
wait "$CPID" || xl_fail "v4 client failed"
wait "$SPID" || xl_fail "v4 server failed"
expect_eq "a: totals after CLOSE" \
	"$(jget "$XL_NS_A" '(len(d["connections"]), {k: v for k, v in d["totals"].items() if "switch" not in k and k != "reattaches"})')" \
	"(0, {'connections': 1, 'ring_tx': 1048576, 'ring_rx': 300000, 'tcp_tx': 5, 'tcp_rx': 0, 'tcp_before_ring': 5})"
expect_eq "b: totals after CLOSE" \
	"$(jget "$XL_NS_B" '(len(d["connections"]), {k: v for k, v in d["totals"].items() if "switch" not in k and k != "reattaches"})')" \
	"(0, {'connections': 1, 'ring_tx': 300000, 'ring_rx': 1048576, 'tcp_tx': 0, 'tcp_rx': 5, 'tcp_before_ring': 5})"
expect_eq "a: no switch off a ring" "$(jget "$XL_NS_A" 'd["totals"]["switches"]')" 0
expect_eq "b: no switch off a ring" "$(jget "$XL_NS_B" 'd["totals"]["switches"]')" 0

# ---- IPv6, and IPv4 through a dual-stack IPv6 listener ----
pair v6 "$XL_NS_B" -a 2001:2::2 -p 5202 --in 70000 --out 5000 -- \
	"$XL_NS_A" -a 2001:2::2 -p 5202 --out 70000 --in 5000
pair mapped "$XL_NS_B" -a :: -p 5203 --in 1000 --out 1000 --tcp-in 3 -- \
	"$XL_NS_A" -a 198.18.0.2 -p 5203 --out 1000 --in 1000 --tcp-out 3

# ---- what stays on TCP ----
# not a peer: a server in the bridge namespace, which runs no daemon
ip -n "$XL_NS_H" addr add 198.18.0.254/24 dev br0
pair not_peer "$XL_NS_H" -a 198.18.0.254 -p 5204 --no-register -- \
	"$XL_NS_A" -a 198.18.0.254 -p 5204 --expect not_peer
# both ends in one namespace: kernel loopback is left alone, both ends
pair same_ns "$XL_NS_A" -a 198.18.0.1 -p 5205 --expect same_ns -- \
	"$XL_NS_A" -a 198.18.0.1 -p 5205 --expect same_ns
# the client does not run the library: the server hears NO_MATCH after
# match_timeout_ms (1000)
pair no_match_server "$XL_NS_B" -a 198.18.0.2 -p 5206 --expect no_match -- \
	"$XL_NS_A" -a 198.18.0.2 -p 5206 --no-register --linger 3000
ms=$(awk '/nochan/ {print $4}' "$OUT/no_match_server.server")
[ "$ms" -ge 900 ] && [ "$ms" -lt 3000 ] ||
	xl_fail "NO_MATCH came after $ms ms, expected about 1000"
# the server does not run it: b holds a's offer, then answers NO_MATCH
pair no_match_client "$XL_NS_B" -a 198.18.0.2 -p 5207 --no-register --linger 3000 -- \
	"$XL_NS_A" -a 198.18.0.2 -p 5207 --expect no_match
# b's daemon hangs (SIGSTOP): a's offer is never answered -> PEER_DOWN
kill -STOP "$PID_B"
pair peer_down "$XL_NS_B" -a 198.18.0.2 -p 5208 --no-register --linger 4000 -- \
	"$XL_NS_A" -a 198.18.0.2 -p 5208 --expect peer_down --wait 5000
kill -CONT "$PID_B"
ms=$(awk '/nochan/ {print $4}' "$OUT/peer_down.client")
[ "$ms" -ge 1900 ] && [ "$ms" -lt 4000 ] ||
	xl_fail "PEER_DOWN came after $ms ms, expected about 2000"

# ---- a hostile client cannot hurt the daemon or claim others' traffic ----
probe "$XL_NS_A" hostile -a 198.18.0.1 -R 198.18.0.2 ||
	xl_fail "hostile client"
expect_eq "a: fallbacks" "$(jget "$XL_NS_A" 'd["fallbacks"]')" \
	"{'not_peer': 1, 'same_ns': 2, 'no_match': 1, 'peer_down': 1, 'resources': 0, 'protocol': 1, 'disabled': 0, 'shared': 0, 'io_uring': 0}"
expect_eq "b: fallbacks" "$(jget "$XL_NS_B" 'd["fallbacks"]')" \
	"{'not_peer': 0, 'same_ns': 0, 'no_match': 1, 'peer_down': 0, 'resources': 0, 'protocol': 0, 'disabled': 0, 'shared': 0, 'io_uring': 0}"
# v4 v6 mapped not_peer same_ns(2) no_match peer_down, hostile: the
# foreign address and the dropped duplicate
expect_eq "a: ended registrations" "$(jget "$XL_NS_A" 'd["totals"]["connections"]')" 10
# b resumed after SIGCONT and is still a's peer
xl_wait_peers "$XL_NS_A" "$XL_NS_B"

# a program of another namespace that opens b's socket (a path every
# namespace sees) is turned away: the daemon ends the link at once
INO_B=$(ip netns exec "$XL_NS_B" stat -L -c %i /proc/self/ns/net)
foreign() {	# NS: "closed" if b's daemon ends the link within 3 s
	ip netns exec "$1" python3 - "$XL_RUNDIR/ns/$INO_B.sock" <<'PYEOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.settimeout(3)
try:
    print("closed" if s.recv(4096) == b"" else "message")
except socket.timeout:
    print("open")
except ConnectionResetError:
    print("closed")
PYEOF
}
expect_eq "b's socket opened from a" "$(foreign "$XL_NS_A")" closed
expect_eq "b's socket opened from b" "$(foreign "$XL_NS_B")" open

# ---- one daemon per namespace; configuration errors ----
rc=0
timeout 10 ip netns exec "$XL_NS_A" "$XL_DAEMON" -d -r "$XL_RUNDIR" \
	2>"$OUT/second.err" || rc=$?
expect_eq "second daemon's exit status" "$rc" 1
grep -q "already serves this network namespace" "$OUT/second.err" ||
	xl_fail "second daemon: no clear message: $(cat "$OUT/second.err")"
printf 'ring_order = 18\n\nbogus = 1\n' >"$XL_RUNDIR/bad.conf"
printf 'ring_order = 30\n' >"$XL_RUNDIR/bad2.conf"
for f in bad bad2; do
	rc=0
	timeout 10 ip netns exec "$XL_NS_H" "$XL_DAEMON" -d -r "$XL_RUNDIR" \
		-f "$XL_RUNDIR/$f.conf" 2>"$OUT/$f.err" || rc=$?
	expect_eq "daemon with $f.conf: exit status" "$rc" 1
done
grep -q "bad.conf:3: unknown key" "$OUT/bad.err" || xl_fail "bad.conf: $(cat "$OUT/bad.err")"
grep -q "bad2.conf:1: ring_order" "$OUT/bad2.err" || xl_fail "bad2.conf: $(cat "$OUT/bad2.err")"
rc=0
ip netns exec "$XL_NS_H" env XENLOOP_RUNDIR="$XL_RUNDIR" "$XL_CTL" status \
	2>"$OUT/ctl.err" || rc=$?
expect_eq "xenloopctl without a daemon: exit status" "$rc" 1
grep -q "no xenloopd" "$OUT/ctl.err" || xl_fail "xenloopctl: $(cat "$OUT/ctl.err")"

# ---- a daemon killed outright drops out of its peer's view ----
kill -KILL "$PID_A"
wait "$PID_A" 2>/dev/null || true
xl_wait_for 3 test "$(jget "$XL_NS_B" 'len(d["peers"])')" = 0 ||
	xl_fail "b still lists a 3 s after a was killed"
xl_log "ok: b dropped a after SIGKILL"
# its stale socket is replaced by the next daemon
ino_a=$(ip netns exec "$XL_NS_A" stat -L -c %i /proc/self/ns/net)
test -S "$XL_RUNDIR/ns/$ino_a.sock" || xl_fail "no stale socket left to replace"
xl_start_daemon "$XL_NS_A" -f "$CONF"
PID_A=$XL_LAST_PID
xl_wait_for 5 xl_status_json "$XL_NS_A" >/dev/null 2>&1 ||
	xl_fail "restarted daemon does not answer"
xl_wait_peers "$XL_NS_A" "$XL_NS_B"
pair again "$XL_NS_B" -a 198.18.0.2 -p 5209 --in 4096 --out 4096 -- \
	"$XL_NS_A" -a 198.18.0.2 -p 5209 --out 4096 --in 4096

# ---- SIGTERM: exit 0, files gone ----
kill -TERM "$PID_B"
rc=0
timeout 5 tail --pid="$PID_B" -f /dev/null || xl_fail "b did not stop on SIGTERM"
wait "$PID_B" || rc=$?
expect_eq "b's exit status after SIGTERM" "$rc" 0
ino_b=$(ip netns exec "$XL_NS_B" stat -L -c %i /proc/self/ns/net)
for f in "ns/$ino_b.sock" "ns/$ino_b.lock" "peers/$NAME_B.sock" \
	"peers/$NAME_B.addrs" "peers/$NAME_B.lock"; do
	[ ! -e "$XL_RUNDIR/$f" ] || xl_fail "b left $f behind"
done
xl_wait_for 3 test "$(jget "$XL_NS_A" 'len(d["peers"])')" = 0 ||
	xl_fail "a still lists b after b stopped"
xl_log "PASS"
