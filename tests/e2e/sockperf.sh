#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Unmodified sockperf through the library: a TCP server (sr) in guest b,
# ping-pong (pp) and throughput (tp) clients from guest a, all under the
# shim. Once on one blocking socket (recvfrom), then on two connections at
# a time multiplexed with epoll (nonblocking sockets), poll and select.
# sockperf must report its messages with none dropped, duplicated or out
# of order; the daemons must have seen every connection close and carried
# at least 99% of the bytes on the ring.
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/data-lib.sh"

xl_require_cmd sockperf
xl_data_setup
OUT=$XL_RUNDIR/sockperf
mkdir -p "$OUT"
PORT=11110

# check NAME OUTPUT_FILE: what sockperf says of its own run.
check() {
	"$XL_PY" - "$1" "$2" <<'EOF' || xl_fail "$1: $(tail -n 3 "$2")"
import re, sys
name, out = sys.argv[1], open(sys.argv[2], errors="replace").read()
def num(pat):
    m = re.search(pat, out)
    if not m:
        sys.exit("%s: sockperf printed no %r" % (name, pat))
    return float(m.group(1))
if "ERROR" in out:
    sys.exit("%s: sockperf reported an error" % name)
if name.startswith("pp"):
    lat = num(r"Summary: Latency is ([0-9.]+) usec")
    sent = num(r"\[Total Run\].*SentMessages=([0-9]+)")
    got = num(r"\[Total Run\].*ReceivedMessages=([0-9]+)")
    for what in ("dropped", "duplicated", "out-of-order"):
        if num(r"# %s messages = ([0-9]+)" % what):
            sys.exit("%s: sockperf saw %s messages" % (name, what))
    # at most one message per connection is in flight when time is up
    if not 0 < sent - 2 <= got <= sent:
        sys.exit("%s: %d messages sent, %d answers" % (name, sent, got))
    print("e2e: %s: %d round trips, latency %.3f usec" % (name, got, lat),
          file=sys.stderr)
else:
    sent = num(r"Total of ([0-9]+) messages sent")
    rate = num(r"Summary: Message Rate is ([0-9]+)")
    mbps = num(r"Summary: BandWidth is [0-9.]+ MBps \(([0-9.]+) Mbps\)")
    if sent <= 0 or rate <= 0:
        sys.exit("%s: %d messages sent" % (name, sent))
    print("e2e: %s: %d messages, %d msg/s, %.1f Mbit/s" % (name, sent, rate,
          mbps), file=sys.stderr)
EOF
}

# run NAME NCONN SECS CLIENTS [sockperf options]: a server with its own
# ports (NCONN 0: one socket, no multiplexing), the CLIENTS ("pp tp") one
# after the other, then the server's end. sockperf sleeps 2 s after every
# run, so the cases share the clients out.
run() {
	local name=$1 nconn=$2 secs=$3 clients=$4 args i spid c
	shift 4
	PORT=$((PORT + 10))
	if [ "$nconn" -eq 0 ]; then
		args=(--tcp -i "$XL_ADDR_B" -p "$PORT")
		nconn=1
	else
		: >"$OUT/$name.feed"
		for ((i = 0; i < nconn; i++)); do
			echo "T:$XL_ADDR_B:$((PORT + i))" >>"$OUT/$name.feed"
		done
		args=(-f "$OUT/$name.feed")
	fi
	xl_shim_argv "$XL_NS_B" tool
	# timeout passes our SIGTERM on to the server
	xl_bg "${XL_ARGV[@]}" timeout 60 sockperf sr "${args[@]}" "$@"
	spid=$XL_LAST_PID
	xl_wait_for 10 xl_data_listening "$XL_NS_B" "$PORT" ||
		xl_fail "$name: the sockperf server does not listen"
	for c in $clients; do
		xl_shim_tool "$XL_NS_A" timeout 30 sockperf "$c" "${args[@]}" \
			"$@" -t "$secs" >"$OUT/$c-$name" 2>&1 ||
			xl_fail "$c-$name: sockperf failed"
		check "$c-$name" "$OUT/$c-$name"
	done
	# the server keeps its sockets until it ends
	kill -TERM "$spid" 2>/dev/null || true
	timeout 10 tail --pid="$spid" -f /dev/null ||
		xl_fail "$name: the sockperf server does not end"
	xl_check_ring "$name" $(($(wc -w <<<"$clients") * nconn))
}

run recvfrom 0 2 "pp tp"
run epoll 2 1 "pp tp" -F epoll --nonblocked
run poll 2 1 pp -F poll
run select 2 1 tp -F select
xl_log "sockperf: done in $(xl_data_elapsed) s after set-up"
