#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Unmodified memcached (libevent, a listener thread handing connections to
# two worker threads) in guest b, its clients in guest a, in each mode of
# app-lib.sh (plain, library at both ends, client only, server only):
#   - memccapable (libmemcached-tools), memcached's own protocol test,
#     ASCII and binary: every test's verdict as in the plain run (its
#     connections carry a few kB: its ring share is logged, not held to
#     the bar);
#   - memcslap, set, get and mget by 8 threads: it completes;
#   - a correctness client (mc.py below) on 4 connections at once, with
#     the text protocol: $XL_MC_KEYS values of 1 byte to 100 kB set in
#     pipelined batches of 100, read back by multi-get and checked byte
#     by byte against what was set, then incr, decr, append, prepend,
#     gets/cas, touch, delete and a miss on each connection: every reply
#     as in the plain run;
#   - the same client with a connection for each request: 200 values of
#     50 kB set and read back, 4 connections at a time.
# With the library at both ends at least 99% of the payload of each step
# but memccapable must go by the rings, and none with one end plain.
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/app-lib.sh"

xl_require_cmd memcached
NKEYS=${XL_MC_KEYS:-20000}
PORT=11211
app_setup memcached
MC=$APP_DIR/mc.py
cat >"$MC" <<'EOF'
import hashlib, random, socket, sys, threading

addr, port, nkeys, nconn = sys.argv[1], int(sys.argv[2]), \
    int(sys.argv[3]), int(sys.argv[4])
BATCH = 100

def value(i):
    size = 100000 if i % 100 == 3 else 1 + (i * 7919) % 1500
    return random.Random(i).randbytes(size)

class Conn:
    def __init__(self):
        self.s = socket.create_connection((addr, port), timeout=20)
        self.buf = b""

    def send(self, b):
        self.s.sendall(b)

    def fill(self):
        b = self.s.recv(262144)
        if not b:
            raise EOFError("the server closed the connection")
        self.buf += b

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l

    def exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        b, self.buf = self.buf[:n], self.buf[n:]
        return b

    def cmd(self, c):
        self.send(c + b"\r\n")
        return self.line()

def run(t, out):
    c = Conn()
    mine = list(range(t, nkeys, nconn))
    stored = hits = bad = 0
    h = hashlib.sha256()
    for k in range(0, len(mine), BATCH):
        part = mine[k:k + BATCH]
        req = b"".join(b"set k:%d %d 0 %d\r\n%s\r\n" %
                       (i, i % 65536, len(value(i)), value(i)) for i in part)
        c.send(req)
        for i in part:
            r = c.line()
            stored += r == b"STORED"
    for k in range(0, len(mine), BATCH):
        part = mine[k:k + BATCH]
        c.send(b"get " + b" ".join(b"k:%d" % i for i in part) + b"\r\n")
        got = {}
        while True:
            l = c.line()
            if l == b"END":
                break
            _, key, flags, n = l.split()
            data = c.exactly(int(n) + 2)[:-2]
            got[int(key[2:])] = (int(flags), data)
        for i in part:
            if i not in got:
                continue
            hits += 1
            f, data = got[i]
            h.update(data)
            if f != i % 65536 or data != value(i):
                bad += 1
    # the other commands, on keys of this connection only
    n, ops = "n:%d" % t, []
    ops.append(c.cmd(b"set %s 0 0 2\r\n40" % n.encode()))
    ops.append(c.cmd(b"incr %s %d" % (n.encode(), 2 + t)))
    ops.append(c.cmd(b"decr %s 5" % n.encode()))
    ops.append(c.cmd(b"append %s 0 0 3\r\nabc" % n.encode()))
    ops.append(c.cmd(b"prepend %s 0 0 1\r\nz" % n.encode()))
    c.send(b"gets %s\r\n" % n.encode())
    l = c.line()
    cas = l.split()[4]
    ops.append(b" ".join(l.split()[:4]) + b" " + c.line())
    ops.append(c.line())
    ops.append(c.cmd(b"cas %s 0 0 1 %s\r\nQ" % (n.encode(), cas)))
    ops.append(c.cmd(b"cas %s 0 0 1 %s\r\nR" % (n.encode(), cas)))
    ops.append(c.cmd(b"touch %s 100" % n.encode()))
    ops.append(c.cmd(b"delete %s" % n.encode()))
    ops.append(c.cmd(b"delete %s" % n.encode()))
    ops.append(c.cmd(b"get %s" % n.encode()))
    c.send(b"quit\r\n")
    tail = c.s.recv(1)
    c.s.close()
    out[t] = ("conn %d: keys %d, stored %d, hits %d, bad %d, sha256 %s\n"
              "conn %d: %s, then %r\n" %
              (t, len(mine), stored, hits, bad, h.hexdigest(), t,
               " | ".join(o.decode() for o in ops), tail))

def short(t, out):
    # a connection for each request, as a client without a pool does
    ok, h = 0, hashlib.sha256()
    for i in range(t, nkeys, nconn):
        v = random.Random(-i).randbytes(50000)
        c = Conn()
        r = c.cmd(b"set s:%d 0 0 %d\r\n%s" % (i, len(v), v))
        c.s.close()
        c = Conn()
        c.send(b"get s:%d\r\n" % i)
        l = c.line()
        data = c.exactly(int(l.split()[3]) + 2)[:-2] \
            if l.startswith(b"VALUE") else b""
        end = c.line()
        c.s.close()
        h.update(data)
        ok += r == b"STORED" and data == v and end == b"END"
    out[t] = "short %d: %d of %d, sha256 %s\n" % (
        t, ok, len(range(t, nkeys, nconn)), h.hexdigest())

job = short if len(sys.argv) > 5 and sys.argv[5] == "short" else run
out, err = {}, []
def wrap(t):
    try:
        job(t, out)
    except Exception as e:
        err.append("conn %d: %r" % (t, e))
ths = [threading.Thread(target=wrap, args=(t,)) for t in range(nconn)]
for th in ths:
    th.start()
for th in ths:
    th.join()
for t in sorted(out):
    sys.stdout.write(out[t])
for e in err:
    print(e)
sys.exit(1 if err else 0)
EOF

mc_mode() {
	local mode=$1 out=$APP_DIR/$1.out log=$APP_DIR/$1 t rc=0
	app_srv "$mode" 120 memcached -u root -l "$XL_ADDR_B" -p $PORT -U 0 \
		-t 2 -m 256 -c 1024
	app_srv_wait $PORT 15 || {
		app_bad "$mode" "memcached does not listen"
		return 1
	}
	: >"$out"
	if command -v memccapable >/dev/null; then
		app_cli "$mode" 40 memccapable -h "$XL_ADDR_B" -p $PORT -t 5 \
			>"$log.capable" 2>&1 ||
			app_bad "$mode" "memccapable: $(grep -v pass \
				"$log.capable")" || rc=1
		cat "$log.capable" >>"$out"
		app_step "$mode" "memccapable (share not held)" noshare
	fi
	if command -v memcslap >/dev/null; then
		for t in set get mget; do
			app_cli "$mode" 30 memcslap -s "$XL_ADDR_B:$PORT" -c 8 \
				-e 2000 -t $t >"$log.slap" 2>&1 ||
				app_bad "$mode" "memcslap -t $t: $(cat \
					"$log.slap")" || rc=1
			# its lines, without the times
			sed -n 's/^\(Time to [a-z]* .*:\) .*/\1/p' "$log.slap" |
				tr -s ' ' >>"$out"
		done
		app_step "$mode" "memcslap"
	fi
	app_cli "$mode" 60 "$XL_PY" "$MC" "$XL_ADDR_B" $PORT "$NKEYS" 4 \
		>>"$out" 2>"$log.mc.err" ||
		app_bad "$mode" "the client failed: $(tail -n 5 "$out" \
			"$log.mc.err")" || rc=1
	app_step "$mode" "the correctness client"
	# last: with the library at one end only, its 400 connections in a
	# few seconds fill the daemon's table of those waiting for a match
	app_cli "$mode" 60 "$XL_PY" "$MC" "$XL_ADDR_B" $PORT 200 4 short \
		>>"$out" 2>"$log.mc.err" ||
		app_bad "$mode" "the short client failed: $(tail -n 5 "$out" \
			"$log.mc.err")" || rc=1
	app_step "$mode" "a connection a request" short
	app_srv_stop
	# every value stored, found and as it was set, on all 4 connections
	[ "$(awk -F'[ ,]+' '$1 == "conn" && $3 == "keys" && $4 == $6 &&
		$4 == $8 && $10 == 0 { n++ } END { print n + 0 }' \
		"$out")" = 4 ] ||
		app_bad "$mode" "the values are not what was set:" \
			"$(grep '^conn' "$out")" || rc=1
	[ "$(grep -c '^short [0-3]: 50 of 50,' "$out")" = 4 ] ||
		app_bad "$mode" "a connection a request:" \
			"$(grep '^short' "$out")" || rc=1
	return $rc
}

app_run_modes mc_mode
