#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A server that forks a child per connection (socat's "fork" option, as
# inetd-style servers and PostgreSQL do): the parent accepts, forks, and
# closes its copy; the child serves the connection. Unmodified socat,
# under the library at both ends, with both daemons running:
#   - every echo comes back byte-exact, several connections at once;
#   - each connection ends in the daemons' tables while the forking parent
#     lives on (neither its copy nor the child's leaves a registration
#     behind), and the client side's counts cover what was sent although
#     socat exits without closing its socket;
#   - the connections move onto rings although the server forked before
#     their channels came (docs/protocol.md §4.1: the child, holding the
#     socket alone once the parent closed its copy and cat was exec()ed
#     with the socket closed on exec, claims the channel): most of the
#     payload goes through rings, on the client's side and the server's.
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/edge-lib.sh"

xl_require_root
xl_require_cmd python3 timeout socat cmp
e2_preload_setup
xl_setup_net
OUT=$XL_RUNDIR/out
mkdir -p "$OUT"
PORT=7201
NCONN=6
SIZE=4000000

xl_start_daemon "$XL_NS_A"
xl_start_daemon "$XL_NS_B"
xl_wait_peers "$XL_NS_A" "$XL_NS_B"

# the echo server: one child per connection, the parent keeps accepting;
# the child relays to cat(1) (socat's own PIPE echo can block writing to
# the pipe only it drains, with or without xenloop); -t: a child that read
# the client's end still relays all cat gives back (0.5 s by default,
# which a slow sanitizer build does not always make)
xl_bg e2_tool "$XL_NS_B" timeout 60 socat -t 20 \
	"TCP-LISTEN:$PORT,fork,reuseaddr" EXEC:cat
server=$XL_LAST_PID
listening() {
	[ -n "$(ip netns exec "$XL_NS_B" ss -Hltn "sport = :$PORT")" ]
}
xl_wait_for 5 listening || xl_fail "no server on port $PORT"

pids=()
for i in $(seq 1 "$NCONN"); do
	head -c "$SIZE" /dev/urandom >"$OUT/in.$i"
	# -t: after our end is sent, wait for the whole echo
	e2_tool "$XL_NS_A" timeout 30 socat -t 10 -b 65536 \
		"OPEN:$OUT/in.$i,rdonly!!CREATE:$OUT/echo.$i" \
		"TCP:$XL_ADDR_B:$PORT" &
	pids+=($!)
done
rc=0
for p in "${pids[@]}"; do
	wait "$p" || rc=1
done
[ $rc -eq 0 ] || xl_fail "a client failed"
for i in $(seq 1 "$NCONN"); do
	cmp -s "$OUT/in.$i" "$OUT/echo.$i" ||
		xl_fail "connection $i: the echo differs ($(stat -c %s \
			"$OUT/echo.$i") of $SIZE bytes)"
done
xl_log "ok: $NCONN echoes of $SIZE bytes byte-exact"

# the forking parent still runs: its closes must have ended its records
kill -0 "$server" 2>/dev/null || xl_fail "the forking server is gone"
e2_wait_empty "$XL_NS_A" "$XL_NS_B"
xl_log "ok: no connection left in the daemons' tables, server still up"

# The client's daemon counted every byte its clients sent (a client that
# exits without closing reports its counts as it goes, channel or not),
# but those of a connection it refused (a fallback): they are the kernel's.
read -r counted refused <<<"$(e2_jget "$XL_NS_A" \
	'"%d %d" % (d["totals"]["ring_tx"] + d["totals"]["tcp_tx"],
	sum(d["fallbacks"].values()))')"
[ "$counted" -ge $(((NCONN - refused) * SIZE)) ] ||
	xl_fail "the client's daemon counted $counted payload bytes sent," \
		"fewer than the $(((NCONN - refused) * SIZE)) of its" \
		"$((NCONN - refused)) accepted connections"
xl_log "ok: client side: $(e2_jget "$XL_NS_A" \
	'"%d payload bytes through the ring, %d through TCP, of %d" \
	" registrations; fallbacks %s" % (d["totals"]["ring_tx"],
	d["totals"]["tcp_tx"], d["totals"]["connections"],
	{k: v for k, v in d["fallbacks"].items() if v})')"
# the claim takes a round trip to the daemon after the parent's close:
# what went before is the kernel's, and a slow (sanitizer) build moves
# more of it then; half of it on the rings shows every connection got one
for ns in "$XL_NS_A" "$XL_NS_B"; do
	share=$(e2_jget "$ns" '100 * (d["totals"]["ring_tx"] +
		d["totals"]["ring_rx"]) // max(1, sum(d["totals"][k] for k in
		("ring_tx", "ring_rx", "tcp_tx", "tcp_rx")))')
	[ "$share" -ge 50 ] ||
		xl_fail "$ns: only $share% of the payload went through rings"
	xl_log "ok: $ns: $share% of the payload through rings"
done
kill "$server" 2>/dev/null
xl_log "PASS"
