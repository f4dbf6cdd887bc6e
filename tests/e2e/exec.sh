#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A server that exec()s a program with the accepted socket as its stdin
# and stdout (inetd, tcpserver, "nc -e"): the new image knows nothing of
# the ring its predecessor had. Under the library at both ends, with both
# daemons running:
#   - the server's first image sends a banner, lets its channel attach,
#     reads nothing, and becomes cat(1); the client has meanwhile sent its
#     first bytes onto the ring, where nobody will read them;
#   - the client must get every byte back from cat, byte-exact: its
#     library notices that the server's side of the channel went while the
#     connection did not, and sends what was never read again through
#     TCP, then all the rest (ARCHITECTURE invariant 1);
#   - then more bytes both ways, and the end of the stream both ways.
# The client's log must say that the bytes went through the ring first.
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/edge-lib.sh"

xl_require_root
xl_require_cmd python3 timeout cat cmp
e2_preload_setup
xl_setup_net
OUT=$XL_RUNDIR/out
mkdir -p "$OUT"
PORT=7301
FIRST=150000		# onto the ring, before the exec
MORE=90000		# after it
head -c "$FIRST" /dev/urandom >"$OUT/first"
head -c "$MORE" /dev/urandom >"$OUT/more"

cat >"$XL_RUNDIR/srv.py" <<'EOF'
import os, socket, sys, time

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
c.sendall(b"R")
# calls on the socket let the library take its channel; nothing is read
end = time.monotonic() + 1.5
while time.monotonic() < end:
    time.sleep(0.02)
    try:
        c.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        pass
os.dup2(c.fileno(), 0)
os.dup2(c.fileno(), 1)
os.execvp("cat", ["cat"])
EOF

cat >"$XL_RUNDIR/cli.py" <<'EOF'
import socket, sys, time

addr, port, first, more, out = sys.argv[1:6]
first = open(first, "rb").read()
more = open(more, "rb").read()
c = socket.create_connection((addr, int(port)), timeout=20)
if c.recv(1) != b"R":
    sys.exit("no banner")
time.sleep(0.5)        # both ends have their channel: this goes on the ring
c.sendall(first)
# a buffered reader's read(n) waits for n bytes or the end, as cat echoes
r = c.makefile("rb")
got = r.read(len(first))
c.sendall(more)
got += r.read(len(more))
c.shutdown(socket.SHUT_WR)
rest = r.read(1)
open(out, "wb").write(got)
print("echoed", len(got), "end" if rest == b"" else "no end", flush=True)
EOF

xl_start_daemon "$XL_NS_A"
xl_start_daemon "$XL_NS_B"
xl_wait_peers "$XL_NS_A" "$XL_NS_B"

xl_bg e2_tool "$XL_NS_B" env XENLOOP_LOG_LEVEL=debug \
	XENLOOP_LOG_FILE="$OUT/srv.xenloop.log" \
	timeout 60 python3 "$XL_RUNDIR/srv.py" "$PORT" >"$OUT/srv.log" 2>&1
xl_wait_for 5 grep -q listening "$OUT/srv.log" ||
	xl_fail "no server: $(cat "$OUT/srv.log")"
e2_tool "$XL_NS_A" env XENLOOP_LOG_LEVEL=debug \
	XENLOOP_LOG_FILE="$OUT/cli.xenloop.log" \
	timeout 40 python3 "$XL_RUNDIR/cli.py" "$XL_ADDR_B" "$PORT" \
	"$OUT/first" "$OUT/more" "$OUT/echo" >"$OUT/cli.log" 2>&1 ||
	xl_fail "the client failed: $(cat "$OUT/cli.log")"
sed 's/^/client: /' "$OUT/cli.log" >&2
sed 's/^/client library: /' "$OUT/cli.xenloop.log" >&2 || true
sed 's/^/server library: /' "$OUT/srv.xenloop.log" >&2 || true
cat "$OUT/first" "$OUT/more" | cmp -s - "$OUT/echo" ||
	xl_fail "the echo differs from what was sent"
grep -q "echoed $((FIRST + MORE)) end" "$OUT/cli.log" ||
	xl_fail "no end of stream after cat's"
xl_log "ok: $((FIRST + MORE)) bytes back byte-exact from the exec()ed" \
	"server, and its end of stream"
grep -q "connection did not" "$OUT/cli.xenloop.log" ||
	xl_fail "the client's bytes never went through the ring"
xl_log "ok: the client's first bytes were on the ring, sent again on TCP"
e2_wait_empty "$XL_NS_A" "$XL_NS_B"
xl_log "PASS"
