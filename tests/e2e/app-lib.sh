# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# What the real-application tests (redis.sh, nginx.sh, memcached.sh,
# postgres.sh) share on top of data-lib.sh. Each runs one unmodified
# server in guest b and its clients in guest a, once in each mode
#
#   plain    no library at either end (the reference)
#   both     the library at both ends
#   client   the library in the clients only
#   server   the library in the server only
#
# and writes, per mode, a transcript of everything the clients got that
# does not depend on timing. A mode's work is cut into steps (a benchmark,
# a bulk load, a download...); after each, once every connection of the
# step has ended, the daemons' counts for the step must say:
#   plain           nothing at all (nothing was shimmed);
#   both            each daemon counted connections; of the payload it
#                   counted, apart from what went by TCP before each
#                   connection's rings took over (tcp_before_ring: its
#                   first bytes go by TCP while its channel is made, a
#                   time that grows with the machine's load), at least
#                   APP_MIN_RING percent (99, XL_APP_MIN_RING) went by a
#                   ring; and at least APP_MIN_FIRST percent (90,
#                   XL_APP_MIN_FIRST) of all of it did (the rings took
#                   over early);
#   client, server  not one byte by a ring (invariant 7: one end only is
#                   plain TCP).
# Each step is held to the share on its own, so that short connections
# cannot hide behind a large transfer.
#
# Two kinds of failure, told apart by the exit status:
#   99  a behaviour differs: a transcript differs from the plain run, a
#       program failed or hung, bytes went by a ring with one end plain,
#       or the test could not run. An automake hard error: reported as
#       ERROR even for a test in XFAIL_TESTS.
#   1   the applications behaved exactly as on plain TCP, but the daemons'
#       account is short: less on the rings than said above,
#       connections not counted, or fewer bytes counted for a step than
#       in another mode (app_totals). This alone is what XFAIL_TESTS may
#       expect, while the library does not yet accelerate a server.
# A mode that fails is reported and the next one still runs (the log then
# tells all that differs); the verdict comes at the end, with a summary.
# XL_APP_MODES picks modes (plain always runs first: it is the reference).
# Sourced by the tests.

. "${XL_TOP_SRCDIR:-$(dirname "${BASH_SOURCE[0]}")/../..}/tests/e2e/data-lib.sh"

# whatever stops a test before its verdict is a hard error (see above)
xl_fail() { printf 'e2e: FAIL: %s\n' "$*" >&2; exit 99; }

APP_MIN_RING=${XL_APP_MIN_RING:-99}
APP_MIN_FIRST=${XL_APP_MIN_FIRST:-90}
APP_BAD=()
APP_SHORT=()
APP_SRV_PID=
APP_SUMMARY=()

# app_setup NAME: the two guests and their daemons; NAME prefixes the log.
app_setup() {
	local m
	APP_NAME=$1
	xl_data_setup
	APP_DIR=$XL_RUNDIR/app
	mkdir -p "$APP_DIR"
	APP_MODES=(plain)
	for m in ${XL_APP_MODES:-both client server}; do
		case $m in
		plain) ;;
		both|client|server) APP_MODES+=("$m") ;;
		*) xl_fail "XL_APP_MODES: no mode $m" ;;
		esac
	done
	app_mark
}

app_log() { xl_log "$APP_NAME: $*"; }

# app_require_preloadable PROG...: with a library that needs the ASan
# runtime loaded first (a sanitizer build), some programs hang before
# main() with libasan preloaded, xenloop or not (curl and postgres, in
# glibc's setlocale() lock); the test cannot run them and is skipped.
app_require_preloadable() {
	local p asan
	xl_data_preload
	[ "$XL_DATA_PRELOAD" != "$XL_PRELOAD" ] || return 0
	asan=${XL_DATA_PRELOAD%%:*}
	for p in "$@"; do
		timeout 10 env LD_PRELOAD="$asan" ASAN_OPTIONS=detect_leaks=0 \
			"$p" --version </dev/null >/dev/null 2>&1 ||
			xl_skip "$p does not start with $asan preloaded"
	done
}

# app_bad MODE WHAT: a behaviour of MODE differs (exit 99 at the end).
# Returns 1, for `step || app_bad ... || return 1`.
app_bad() {
	local mode=$1
	shift
	printf 'e2e: %s: %s: FAIL: %s\n' "$APP_NAME" "$mode" "$*" >&2
	APP_BAD+=("$mode: $*")
	return 1
}

# app_short MODE WHAT: the daemons' account of MODE is short (exit 1).
app_short() {
	local mode=$1
	shift
	printf 'e2e: %s: %s: SHORT: %s\n' "$APP_NAME" "$mode" "$*" >&2
	APP_SHORT+=("$mode: $*")
	return 1
}

# app_argv SIDE MODE: the command line prefix that runs a program of SIDE
# (srv: guest b, cli: guest a) in MODE, in the array APP_ARGV. Started as
# xl_bg "${APP_ARGV[@]}" PROG..., its pid is the program's: ip netns exec
# and env exec the next.
app_argv() {
	local side=$1 mode=$2 ns shim=0
	case $side in
	srv) ns=$XL_NS_B
	     [ "$mode" = both ] || [ "$mode" = server ] && shim=1 ;;
	cli) ns=$XL_NS_A
	     [ "$mode" = both ] || [ "$mode" = client ] && shim=1 ;;
	*) xl_fail "app_argv: no side $side" ;;
	esac
	if [ $shim = 1 ]; then
		xl_shim_argv "$ns" tool
		APP_ARGV=("${XL_ARGV[@]}")
	else
		APP_ARGV=(ip netns exec "$ns")
	fi
}

# app_cli MODE SECS PROG...: run a client in guest a, killed after SECS
# (`timeout` in front, not under the library).
app_cli() {
	local mode=$1 secs=$2
	shift 2
	app_argv cli "$mode"
	timeout -k 3 "$secs" "${APP_ARGV[@]}" "$@"
}

# app_srv MODE SECS PROG...: start a server in guest b, killed after SECS;
# its pid (timeout's, which passes signals on) in APP_SRV_PID.
app_srv() {
	local mode=$1 secs=$2
	shift 2
	app_argv srv "$mode"
	xl_bg timeout -k 3 "$secs" "${APP_ARGV[@]}" "$@"
	APP_SRV_PID=$XL_LAST_PID
}

# app_srv_wait PORT SECS: the server listens on PORT within SECS, and is
# still alive.
app_srv_wait() {
	xl_wait_for "$2" xl_data_listening "$XL_NS_B" "$1" &&
		kill -0 "$APP_SRV_PID" 2>/dev/null
}

# app_srv_stop: SIGTERM to the server, SIGKILL after 10 s; reaped.
app_srv_stop() {
	local pid=$APP_SRV_PID
	[ -n "$pid" ] || return 0
	APP_SRV_PID=
	kill -TERM "$pid" 2>/dev/null || true
	timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null ||
		kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# The daemons' totals now: the start of the next step's counts (app.step)
# and, with "mode", of the next mode's (app.mode).
app_mark() {
	local f=("$XL_RUNDIR/app.step")
	APP_T_STEP=$SECONDS
	[ "${1:-}" != mode ] || f+=("$XL_RUNDIR/app.mode")
	{ xl_status_json "$XL_NS_A"; xl_status_json "$XL_NS_B"; } |
		"$XL_PY" -c '
import json, sys
dec, s, docs, i = json.JSONDecoder(), sys.stdin.read(), [], 0
while len(docs) < 2:
    while s[i].isspace():
        i += 1
    d, i = dec.raw_decode(s, i)
    docs.append({"totals": d["totals"], "fallbacks": d["fallbacks"]})
for f in sys.argv[1:]:
    json.dump(docs, open(f, "w"))' "${f[@]}"
}

app_idle() {
	xl_wait_for "$1" xl_no_connections "$XL_NS_A" &&
		xl_wait_for "$1" xl_no_connections "$XL_NS_B"
}

# app_step MODE STEP [FLAG...]: the daemons' counts for the connections
# that ended since the last step (or the start of the mode), checked as
# MODE requires (see the top); the shares go to the summary. Flags:
#   noshare  the ring share is logged, not held to APP_MIN_RING (a step
#            of a few kB, for its behaviour only);
#   short    the same, for a step of short connections (one per request,
#            or a few pipelined round trips): a connection registers with
#            its daemon only once it is a few milliseconds and calls old
#            (XENLOOP_REGISTER_DELAY_US, xenloop(7)), so that one which
#            ends sooner never pays for a channel and stays on TCP, by
#            design. Such a step's payload is left out of the mode's
#            total too (app_run_modes), which is held as each long step;
#   timed    the step runs for a time, not a fixed amount of work: its
#            byte counts are not compared across modes (app_totals).
app_step() {
	local mode=$1 step=$2 out kind line dt=$((SECONDS - APP_T_STEP))
	local min=$APP_MIN_RING timed=0 excl= f
	shift 2
	for f in "$@"; do
		case $f in
		noshare) min=0 ;;
		short) min=0 excl=$XL_RUNDIR/app.excl ;;
		timed) timed=1 ;;
		*) xl_fail "app_step: no flag $f" ;;
		esac
	done
	app_idle 10 || app_short "$mode" "$step: connections still listed" \
		"after the step's clients ended: a: $(xl_status_json \
		"$XL_NS_A") b: $(xl_status_json "$XL_NS_B")" || true
	out=$(APP_MIN_RING=$min APP_EXCL_ADD=$excl app_counts "$mode" \
		"$XL_RUNDIR/app.step") ||
		xl_fail "$mode: $step: no account from the daemons"
	app_mark
	while read -r kind line; do
		case $kind in
		log) app_log "$mode: $step: $line" ;;
		share) APP_SUMMARY+=("$(printf '  %-7s %-30s %s, %d s' \
			"$mode" "$step" "$line" "$dt")") ;;
		bad) app_bad "$mode" "$step: $line" || true ;;
		short) app_short "$mode" "$step: $line" || true ;;
		total) [ $timed = 1 ] || printf '%s\t%s\t%s\n' "$step" \
			"$mode" "$line" >>"$XL_RUNDIR/app.totals" ;;
		esac
	done <<<"$out"
}

# Every connection must be counted, with all its bytes (issue 11): the
# same fixed work counted by any daemon with the library, in any mode,
# must come to nearly the most any of them counted for it. The checks
# of app_totals, one "MODE: what" line each.
app_totals() {
	[ -f "$XL_RUNDIR/app.totals" ] || return 0
	"$XL_PY" - "$XL_RUNDIR/app.totals" <<'EOF'
import sys
steps = {}
for l in open(sys.argv[1]):
    step, mode, side, n = l.rstrip("\n").split("\t")
    steps.setdefault(step, []).append((mode, side, int(n)))
for step, runs in steps.items():
    most = max(n for _, _, n in runs)
    for mode, side, n in runs:
        if n < 0.9 * most:
            print("%s: %s: daemon %s counted %d payload bytes, %.1f%% of "
                  "the %d counted for the same work in another run" %
                  (mode, step, side, n, 100.0 * n / most, most))
EOF
}

# app_counts MODE MARKFILE: the daemons' counts since MARKFILE, a line
# each: "log ...", "share ...", "bad ..." or "short ..." (MODE's checks).
# With APP_EXCL_ADD=FILE the counts are also added to FILE; with
# APP_EXCL_SUB=FILE what FILE holds is left out of them.
app_counts() {
	local sa sb
	sa=$(xl_status_json "$XL_NS_A") && sb=$(xl_status_json "$XL_NS_B") ||
		return 1
	"$XL_PY" - "$1" "$APP_MIN_RING" "$2" "$sa" "$sb" \
		"${APP_EXCL_ADD:-}" "${APP_EXCL_SUB:-}" "$APP_MIN_FIRST" <<'EOF'
import json, os, sys
mode, need, markf = sys.argv[1], float(sys.argv[2]), sys.argv[3]
now = [json.loads(s) for s in sys.argv[4:6]]
mark = json.load(open(markf))
add, sub = sys.argv[6], sys.argv[7]
need_first = min(need, float(sys.argv[8]))
keys = ("connections", "ring_tx", "ring_rx", "tcp_tx", "tcp_rx",
        "tcp_before_ring")
def load_excl(f):
    if f and os.path.exists(f):
        return json.load(open(f))
    return [dict.fromkeys(keys, 0), dict.fromkeys(keys, 0)]
excl = load_excl(sub) if sub else None
acc = load_excl(add) if add else None
shares = []
for i, (side, n, m) in enumerate(zip("ab", now, mark)):
    d = {k: n["totals"][k] - m["totals"][k] for k in keys}
    if acc:
        for k in keys:
            acc[i][k] += d[k]
    if excl:
        d = {k: d[k] - excl[i][k] for k in keys}
    fb = {k: v - m["fallbacks"].get(k, 0) for k, v in n["fallbacks"].items()
          if v != m["fallbacks"].get(k, 0)}
    ring = d["ring_tx"] + d["ring_rx"]
    total = ring + d["tcp_tx"] + d["tcp_rx"]
    share = 100.0 * ring / total if total else 0.0
    # of the rest: what went by TCP once the rings had taken over
    later = total - d["tcp_before_ring"]
    share_later = 100.0 * ring / later if later else 0.0
    shares.append("%s %6.2f%% of %9d B (%6.2f%% after the first bytes)" %
                  (side, share, total, share_later))
    # A connection whose registration found no peer (no_match: the
    # other end runs without the library) is left alone from then on,
    # at no cost, and its later bytes are not counted: such a step's
    # total is not comparable with the others.
    if (mode == "both" or (mode, side) in (("client", "a"),
                                           ("server", "b"))) and \
            not fb.get("no_match"):
        print("total %s\t%d" % (side, total))
    print("log daemon %s: %d connections, ring tx/rx %d/%d, tcp tx/rx "
          "%d/%d (%d before the rings), ring share %.2f%% (%.2f%% after "
          "the first bytes), fallbacks %s" % (side, d["connections"],
          d["ring_tx"], d["ring_rx"], d["tcp_tx"], d["tcp_rx"],
          d["tcp_before_ring"], share, share_later, fb or "none"))
    if mode == "plain":
        if d["connections"] or total or fb:
            print("bad daemon %s counted traffic in a run without the "
                  "library" % side)
    elif mode == "both":
        if not d["connections"]:
            print("short daemon %s counted no connection" % side)
        elif share_later < need:
            print("short daemon %s: %.2f%% of the %d payload bytes after "
                  "the rings took over on rings, below %g%%" %
                  (side, share_later, later, need))
        elif share < need_first:
            print("short daemon %s: %.2f%% of %d payload bytes on rings "
                  "(%d by TCP before the rings took over), below %g%%" %
                  (side, share, total, d["tcp_before_ring"], need_first))
    elif ring:
        print("bad daemon %s: %d bytes on rings with the library at one "
              "end only" % (side, ring))
print("share " + ", ".join(shares))
if acc:
    json.dump(acc, open(add, "w"))
EOF
}

# app_compare MODE: MODE's transcript ($APP_DIR/MODE.out) is plain's.
app_compare() {
	local mode=$1
	[ -s "$APP_DIR/$mode.out" ] ||
		{ app_bad "$mode" "no transcript"; return 1; }
	[ "$mode" != plain ] || return 0
	cmp -s "$APP_DIR/plain.out" "$APP_DIR/$mode.out" && return 0
	app_bad "$mode" "the transcript differs from the plain run:" \
		"$(diff -u "$APP_DIR/plain.out" "$APP_DIR/$mode.out" |
		head -n 40)"
}

# app_run_modes FUNC [CHECK]: FUNC MODE for each mode, which writes
# $APP_DIR/MODE.out, calls app_step after each step and stops the server
# (app_srv_stop: the server is stopped anyway when FUNC fails); then the
# comparison of each transcript, a summary, and the verdict. CHECK, after the plain run, checks that the reference
# is sound (or xl_fail: a test that cannot run plainly says nothing).
app_run_modes() {
	local func=$1 check=${2:-} mode t0 nbad res
	for mode in "${APP_MODES[@]}"; do
		if [ "$mode" != plain ] && [ -n "$check" ]; then
			[ ${#APP_BAD[@]} -eq 0 ] ||
				xl_fail "the plain run failed: ${APP_BAD[*]}"
			"$check"
			check=
		fi
		t0=$SECONDS
		nbad=${#APP_BAD[@]}
		app_log "$mode: start"
		rm -f "$XL_RUNDIR/app.excl"
		app_mark mode
		"$func" "$mode" || [ ${#APP_BAD[@]} -gt "$nbad" ] ||
			app_bad "$mode" "the run failed" || true
		app_srv_stop	# if FUNC did not
		app_idle 10 || true
		# the whole mode's payload, short steps left out (their
		# connections stay on TCP by design), held to APP_MIN_RING as
		# each long step is
		while read -r kind line; do
			case $kind in
			share) app_log "$mode: mode total: $line" ;;
			short) app_short "$mode" "mode total: $line" || true ;;
			esac
		done <<<"$(APP_EXCL_SUB=$XL_RUNDIR/app.excl app_counts "$mode" \
			"$XL_RUNDIR/app.mode")"
		app_mark
		app_compare "$mode" || true
		res=same
		[ ${#APP_BAD[@]} -eq "$nbad" ] || res=DIFFERENT
		app_log "$mode: results $res as plain's, in $((SECONDS - t0)) s"
		APP_SUMMARY+=("  $mode: results $res")
	done
	app_log "summary (ring share: payload on rings / all counted, per" \
		"daemon; with both ends, at least $APP_MIN_RING% of what went" \
		"after each connection's first bytes and $APP_MIN_FIRST% of all," \
		"but for steps of short connections, which stay on TCP by" \
		"design):"
	for res in "${APP_SUMMARY[@]}"; do
		app_log "$res"
	done
	app_log "done in $(xl_data_elapsed) s after set-up"
	while read -r line; do
		[ -z "$line" ] || app_short "${line%%: *}" "${line#*: }" || true
	done <<<"$(app_totals)"
	if [ ${#APP_BAD[@]} -gt 0 ]; then
		xl_fail "$APP_NAME: ${#APP_BAD[@]} behaviour(s) differ:" \
			"$(printf '%s; ' "${APP_BAD[@]}" | cut -c1-3000)"
	fi
	if [ ${#APP_SHORT[@]} -gt 0 ]; then
		printf 'e2e: FAIL: %s: %s %s\n' "$APP_NAME" "the same results," \
			"but the daemons' account is short: $(printf '%s; ' \
			"${APP_SHORT[@]}" | cut -c1-3000)" >&2
		exit 1
	fi
	xl_log "PASS"
}
