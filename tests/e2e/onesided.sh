#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The library at one end only, or a daemon at one end only: every byte
# must arrive as it does over plain TCP (ARCHITECTURE invariants 2 and 7),
# connection set-up must not wait for the peer that never answers, and
# xenloopctl must say why the connection stayed on TCP, with 0 ring bytes.
#
# Each case runs the same four exchanges at once between servers in b and
# clients in a, and compares what each end received with a plain run:
#   - socat -u, the server speaking first and only; socat -u the other way;
#   - python3 -m http.server and an urllib client;
#   - a dialogue (dialog.py below): banner from the server before it reads
#     anything, a request line, 300 kB down, 300 kB up, a digest back. It
#     times connect -> banner and request -> first byte of the answer, and
#     keeps its socket open until the test has seen the daemon's verdict.
#
#   case            library     daemons   expected verdict
#   plain           none        none      (the reference)
#   nodaemon_srv    both ends   a only    a: not_peer (b is no peer)
#   client_only     a           a, b      a: no_match (b's offer waits)
#   server_only     b           a, b      b: no_match (no offer comes)
#   nodaemon_cli    both ends   b only    b: not_peer (a is no peer)
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/edge-lib.sh"

xl_require_root
xl_require_cmd python3 timeout socat cmp
PY=$E2_PY
e2_preload_setup
xl_setup_net
OUT=$XL_RUNDIR/out
REF=$XL_RUNDIR/ref
mkdir -p "$OUT" "$REF" "$XL_RUNDIR/www"
MATCH_MS=1500		# the daemons' match timeout
BOUND_MS=500		# set-up and first byte: well under it
CONF=$XL_RUNDIR/test.conf
printf 'match_timeout_ms = %d\n' "$MATCH_MS" >"$CONF"
head -c 1500000 /dev/urandom >"$XL_RUNDIR/www/down.bin"
head -c 1000000 /dev/urandom >"$XL_RUNDIR/up.bin"
DLG=$XL_RUNDIR/dialog.py
cat >"$DLG" <<'EOF'
import hashlib, os, random, socket, sys, time

BANNER = b"220 xenloop one-sided test\r\n"
N = 300000

def payload(seed):
    return random.Random(seed).randbytes(N)

def ms(t):
    return (time.monotonic() - t) * 1000

def save(path, data):
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.rename(path + ".tmp", path)

def linger(path, limit):
    # keep the connection (and its registration) until the test is done
    end = time.monotonic() + limit
    while time.monotonic() < end and not os.path.exists(path + ".release"):
        time.sleep(0.02)

def recv_exactly(s, n):
    data = b""
    while len(data) < n:
        b = s.recv(n - len(data))
        if not b:
            break
        data += b
    return data

def recv_to_eof(s):
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            return data
        data += b

def server(addr, port, out, limit):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    print("listening", flush=True)
    c, _ = ls.accept()
    ls.close()
    c.settimeout(10)
    c.sendall(BANNER)               # before reading anything
    line = b""
    while not line.endswith(b"\n"):
        b = c.recv(1)
        if not b:
            break
        line += b
    c.sendall(payload(1))
    up = recv_to_eof(c)
    c.sendall(hashlib.sha256(up).hexdigest().encode() + b"\n")
    c.shutdown(socket.SHUT_WR)
    save(out, line + up)
    linger(out, limit)
    c.close()

def client(addr, port, out, limit):
    t0 = time.monotonic()
    c = socket.create_connection((addr, port), timeout=10)
    first = c.recv(1)
    banner_ms = ms(t0)
    first += recv_exactly(c, len(BANNER) - 1)
    t1 = time.monotonic()
    c.sendall(b"HELO client\r\n")
    down = c.recv(65536)
    rtt_ms = ms(t1)
    down += recv_exactly(c, N - len(down))
    c.sendall(payload(2))
    c.shutdown(socket.SHUT_WR)
    rest = recv_to_eof(c)
    save(out, first + down + rest)
    print("timing banner_ms=%d rtt_ms=%d" % (banner_ms, rtt_ms), flush=True)
    linger(out, limit)
    c.close()

role, addr, port, out, limit = sys.argv[1:6]
(server if role == "server" else client)(addr, int(port), out, float(limit))
EOF

SRV_SHIM=0
CLI_SHIM=0
srv() {
	if [ "$SRV_SHIM" = 1 ]; then e2_tool "$XL_NS_B" "$@"
	else ip netns exec "$XL_NS_B" "$@"; fi
}
cli() {
	if [ "$CLI_SHIM" = 1 ]; then e2_tool "$XL_NS_A" "$@"
	else ip netns exec "$XL_NS_A" "$@"; fi
}

# Wait for the line that says the server of FILE listens.
ready() {
	xl_wait_for 5 grep -q "$2" "$1" || xl_fail "no server: $(cat "$1")"
}

# exchanges CASE PORT LINGER: the four exchanges at once, on ports PORT to
# PORT+3; returns when the transfers are done and the dialogue has its
# transcripts (its sockets stay open up to LINGER s: exchanges_end).
exchanges() {
	local case=$1 port=$2 limit=$3 o=$OUT/$1 pid rc=0
	SPIDS=()
	xl_bg srv timeout 20 socat -d -d -u OPEN:"$XL_RUNDIR/www/down.bin" \
		TCP-LISTEN:"$port",reuseaddr,bind="$XL_ADDR_B" 2>"$o.sd.log"
	SPIDS+=("$XL_LAST_PID")
	xl_bg srv timeout 20 socat -d -d -u \
		TCP-LISTEN:$((port + 1)),reuseaddr,bind="$XL_ADDR_B" \
		CREATE:"$o.socat-up" 2>"$o.su.log"
	SPIDS+=("$XL_LAST_PID")
	xl_bg srv timeout 20 "$PY" -u -m http.server $((port + 2)) \
		--bind "$XL_ADDR_B" --directory "$XL_RUNDIR/www" \
		>"$o.hs.log" 2>&1
	HTTP_PID=$XL_LAST_PID
	xl_bg srv timeout 30 "$PY" "$DLG" server "$XL_ADDR_B" $((port + 3)) \
		"$o.dlg-srv" "$limit" >"$o.dlg-srv.log" 2>&1
	SPIDS+=("$XL_LAST_PID")
	ready "$o.sd.log" "listening on"
	ready "$o.su.log" "listening on"
	ready "$o.hs.log" "Serving HTTP"
	ready "$o.dlg-srv.log" "listening"
	xl_bg cli timeout 20 socat -u TCP:"$XL_ADDR_B:$port" \
		CREATE:"$o.socat-down"
	CPIDS=("$XL_LAST_PID")
	xl_bg cli timeout 20 socat -u OPEN:"$XL_RUNDIR/up.bin" \
		TCP:"$XL_ADDR_B:$((port + 1))"
	CPIDS+=("$XL_LAST_PID")
	xl_bg cli timeout 20 "$PY" -c 'import sys, urllib.request as u
sys.stdout.buffer.write(u.urlopen(sys.argv[1], timeout=10).read())' \
		"http://$XL_ADDR_B:$((port + 2))/down.bin" >"$o.http"
	CPIDS+=("$XL_LAST_PID")
	xl_bg cli timeout 30 "$PY" "$DLG" client "$XL_ADDR_B" $((port + 3)) \
		"$o.dlg-cli" "$limit" >"$o.dlg-cli.log" 2>&1
	DLG_CPID=$XL_LAST_PID
	for pid in "${CPIDS[@]}" "${SPIDS[@]:0:2}"; do
		wait "$pid" || rc=1
	done
	[ $rc = 0 ] || xl_fail "$case: a socat or HTTP transfer failed"
	xl_wait_for 15 test -s "$o.dlg-cli" -a -s "$o.dlg-srv" ||
		xl_fail "$case: the dialogue did not finish:" \
			"$(cat "$o".dlg-*.log)"
}

exchanges_end() {
	local case=$1 rc=0
	touch "$OUT/$case.dlg-srv.release" "$OUT/$case.dlg-cli.release"
	wait "${SPIDS[2]}" || rc=1
	wait "$DLG_CPID" || rc=1
	kill "$HTTP_PID" 2>/dev/null
	wait "$HTTP_PID" 2>/dev/null || true
	[ $rc = 0 ] ||
		xl_fail "$case: the dialogue failed:" \
			"$(cat "$OUT/$case".dlg-*.log)"
}

# The set-up of a case did not wait for the missing peer.
check_timing() {
	local case=$1 b r
	read -r b r < <(sed -n \
		's/^timing banner_ms=\([0-9]*\) rtt_ms=\([0-9]*\)$/\1 \2/p' \
		"$OUT/$case.dlg-cli.log")
	[ -n "$b" ] || xl_fail "$case: no timing from the dialogue"
	xl_log "$case: connect to banner $b ms, request to answer $r ms"
	[ "$b" -lt $BOUND_MS ] && [ "$r" -lt $BOUND_MS ] ||
		xl_fail "$case: set-up took $b / $r ms, bound $BOUND_MS ms"
}

# Byte for byte what the plain run got.
check_same() {
	local case=$1 f
	for f in socat-down socat-up http dlg-cli dlg-srv; do
		cmp "$REF/$f" "$OUT/$case.$f" ||
			xl_fail "$case: $f differs from plain TCP"
	done
	xl_log "$case: every transcript is identical to plain TCP"
}

# What NS's daemon says in one line: its fallback counts, the ring bytes
# of everything it saw (ended and live), and its live connections.
verdict() {
	e2_jget "$1" '" ".join("%s=%d" % kv
		for kv in sorted(d["fallbacks"].items())) +
		" ring=%d live=%d" % (d["totals"]["ring_tx"] +
		d["totals"]["ring_rx"] + sum(c["ring_tx"] + c["ring_rx"]
		for c in d["connections"]), len(d["connections"]))'
}

# verdict(NS) as it must be: REASON raised by N from BEFORE, no ring byte
# (the live connections are not compared).
want_verdict() {
	local before=$1 reason=$2 n=$3
	"$PY" -c 'import sys
kv = dict(x.split("=") for x in sys.argv[1].split())
if sys.argv[2]:
    kv[sys.argv[2]] = str(int(kv[sys.argv[2]]) + int(sys.argv[3]))
kv["ring"] = "0"
print(" ".join("%s=%s" % (k, kv[k]) for k in kv if k != "live"))' \
		"$before" "$reason" "$n"
}

verdict_is() {	# NS WANT
	[ "$(verdict "$1" | sed 's/ live=[0-9]*$//')" = "$2" ]
}

# one_case CASE BASEPORT SRV_SHIM,CLI_SHIM VERDICT_NS REASON COUNT [OTHER_NS]
# VERDICT_NS must count COUNT more fallbacks for REASON while the dialogue
# is open (and nothing else); OTHER_NS (a running daemon) nothing at all;
# neither a byte through a ring.
one_case() {
	local case=$1 port=$2 vns=$4 reason=$5 n=$6 ons=${7:-} t0
	local vwant owant cnt
	SRV_SHIM=${3%,*}
	CLI_SHIM=${3#*,}
	t0=$(e2_ms)
	vwant=$(want_verdict "$(verdict "$vns")" "$reason" "$n")
	[ -z "$ons" ] || owant=$(want_verdict "$(verdict "$ons")" "" 0)
	exchanges "$case" "$port" $((MATCH_MS / 1000 + 5))
	xl_wait_for $((MATCH_MS / 1000 + 3)) verdict_is "$vns" "$vwant" ||
		xl_fail "$case: $vns says $(verdict "$vns"), expected $vwant"
	xl_log "$case: $vns counted $n x $reason, no ring byte"
	cnt=$(sed -n "s/.*$reason=\([0-9]*\).*/\1/p" <<<"$vwant")
	ip netns exec "$vns" env XENLOOP_RUNDIR="$XL_RUNDIR" "$XL_CTL" status |
		grep -Eq "^fallbacks:.* $reason $cnt( |\$)" ||
		xl_fail "$case: xenloopctl's table does not show $reason $cnt"
	if [ -n "$ons" ]; then
		verdict_is "$ons" "$owant" ||
			xl_fail "$case: $ons says $(verdict "$ons")," \
				"expected $owant"
		xl_log "$case: $ons counted nothing, no ring byte"
	fi
	exchanges_end "$case"
	e2_wait_empty "$vns" $ons
	check_timing "$case"
	check_same "$case"
	xl_log "$case: done in $(($(e2_ms) - t0)) ms"
}

# ---- the reference: plain TCP, no library ----
t0=$(e2_ms)
exchanges plain 7200 0
exchanges_end plain
for f in socat-down socat-up http dlg-cli dlg-srv; do
	mv "$OUT/plain.$f" "$REF/$f"
done
cmp "$REF/socat-down" "$XL_RUNDIR/www/down.bin" &&
	cmp "$REF/socat-up" "$XL_RUNDIR/up.bin" &&
	cmp "$REF/http" "$XL_RUNDIR/www/down.bin" ||
	xl_fail "plain: a transfer is not what was sent"
[ "$(wc -c <"$REF/dlg-cli")" -gt 300000 ] &&
	[ "$(wc -c <"$REF/dlg-srv")" -gt 300000 ] ||
	xl_fail "plain: the dialogue is short"
check_timing plain
xl_log "plain: done in $(($(e2_ms) - t0)) ms"

# ---- the library at both ends, a daemon only at the client's ----
xl_start_daemon "$XL_NS_A" -f "$CONF"
PID_A=$XL_LAST_PID
# every client connection is refused at once: b is no peer
one_case nodaemon_srv 7210 1,1 "$XL_NS_A" not_peer 4

# ---- both daemons, the library at one end ----
xl_start_daemon "$XL_NS_B" -f "$CONF"
xl_wait_peers "$XL_NS_A" "$XL_NS_B"
# a offers each connection to b, which holds it for a server that never
# registers; only the dialogue lives long enough to hear NO_MATCH
one_case client_only 7220 0,1 "$XL_NS_A" no_match 1 "$XL_NS_B"
# b's registrations wait for offers that never come
one_case server_only 7230 1,0 "$XL_NS_B" no_match 1 "$XL_NS_A"

# ---- the library at both ends, a daemon only at the server's ----
kill -TERM "$PID_A"
timeout 5 tail --pid="$PID_A" -f /dev/null || xl_fail "a's daemon did not stop"
xl_wait_for 3 test "$(e2_jget "$XL_NS_B" 'len(d["peers"])')" = 0 ||
	xl_fail "b still lists a"
# b refuses every server registration at once: a is no peer now
one_case nodaemon_cli 7240 1,1 "$XL_NS_B" not_peer 4
e2_wait_empty "$XL_NS_B"
xl_log "PASS"
