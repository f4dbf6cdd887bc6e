#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Unmodified iperf3 through the library: server in guest b, client in
# guest a, both under the shim, 5 s each way (forward and -R), over IPv4
# and IPv6. iperf3's own reports (-J) must show bytes moved and the two
# ends must agree on them; the daemons must have seen every connection
# close, account for the bytes iperf3 reports, and have carried at least
# 99% of them on the ring.
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/data-lib.sh"

xl_require_cmd iperf3
# Until the daemons have matched the two ends (a few ms, more on a loaded
# machine) the data stream runs on TCP; 5 s keeps that well under 1%.
XL_IPERF_SECS=${XL_IPERF_SECS:-5}
xl_data_setup
PORT=5201

# iperf NAME SERVER_ADDR [iperf3 client options]
iperf() {
	local name=$1 addr=$2 spid rc=0
	shift 2
	rm -f "$XL_RUNDIR/s.json"
	xl_bg xl_shim_tool "$XL_NS_B" timeout 30 iperf3 -s -1 -B "$addr" \
		-p $PORT -J --logfile "$XL_RUNDIR/s.json"
	spid=$XL_LAST_PID
	xl_wait_for 10 xl_data_listening "$XL_NS_B" $PORT ||
		xl_fail "$name: the iperf3 server does not listen"
	xl_shim_tool "$XL_NS_A" timeout 30 iperf3 -c "$addr" -p $PORT -J \
		-t "$XL_IPERF_SECS" "$@" >"$XL_RUNDIR/c.json" || rc=$?
	wait "$spid" || rc=$?
	[ $rc -eq 0 ] || xl_fail "$name: iperf3 failed ($rc): $(tail -n 5 \
		"$XL_RUNDIR/c.json" "$XL_RUNDIR/s.json" 2>/dev/null)"
	xl_check_ring "$name" 2
	"$XL_PY" - "$name" "$XL_RUNDIR" <<'EOF' || xl_fail "$name: reports"
import json, os, sys
name, run = sys.argv[1:3]
c = json.load(open(os.path.join(run, "c.json")))
s = json.load(open(os.path.join(run, "s.json")))
for who, d in (("client", c), ("server", s)):
    if "error" in d:
        sys.exit("%s: iperf3 %s: %s" % (name, who, d["error"]))
rev = c["start"]["test_start"]["reverse"]
sent = c["end"]["sum_sent"]["bytes"]
recv = c["end"]["sum_received"]["bytes"]
# the server's own count of what it moved, and what the client was told
srv = s["end"]["sum_sent" if rev else "sum_received"]["bytes"]
cli = sent if rev else recv
gbit = c["end"]["sum_received"]["bits_per_second"] / 1e9
print("e2e: %s: sent %d, received %d bytes, %.2f Gbit/s" %
      (name, sent, recv, gbit), file=sys.stderr)
if not (0 < recv <= sent):
    sys.exit("%s: %d bytes sent, %d received" % (name, sent, recv))
if srv != cli:
    sys.exit("%s: the server counted %d bytes, the client %d" %
             (name, srv, cli))
# what the libraries reported for this run, against what iperf3 moved
# (the data stream plus the control connection's few hundred bytes)
d = json.load(open(os.path.join(run, "delta.json")))
snd, rcv = (d[1], d[0]) if rev else (d[0], d[1])
lsent = snd["ring_tx"] + snd["tcp_tx"]
lrecv = rcv["ring_rx"] + rcv["tcp_rx"]
# the receiver may read on after iperf3 stopped counting, but never more
# than was sent
if not (sent <= lsent <= sent + 65536 and recv <= lrecv <= lsent):
    sys.exit("%s: the libraries sent %d and received %d bytes, iperf3 "
             "%d and %d" % (name, lsent, lrecv, sent, recv))
EOF
}

iperf ipv4 "$XL_ADDR_B"
iperf ipv4-R "$XL_ADDR_B" -R
iperf ipv6 "$XL_ADDR6_B"
iperf ipv6-R "$XL_ADDR6_B" -R
xl_log "iperf3: done in $(xl_data_elapsed) s after set-up"
