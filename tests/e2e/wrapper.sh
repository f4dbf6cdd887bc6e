#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The xenloop wrapper, xenloop(1): its errors and exit codes (those of
# env(1)), how it builds LD_PRELOAD, and then an unmodified program (socat)
# run through "xenloop run" in two namespaces, whose bytes must arrive
# intact and, as the sender's daemon reports, through the ring, with both
# daemons matching the connection (no fallback). A last run with
# XENLOOP_DISABLE=1 on one side checks that XENLOOP_* variables reach the
# program: that side never registers, the other waits for it in vain.
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

xl_require_root
xl_require_cmd python3 timeout socat cmp ss
XL=$XL_BUILDDIR/preload/xenloop
[ -x "$XL" ] || xl_skip "the wrapper is not built ($XL)"
[ -x "$XL_CTL" ] || xl_skip "xenloopctl not built ($XL_CTL)"
[ -f "$XL_BUILDDIR/preload/.libs/libxenloop.so" ] ||
	xl_skip "libxenloop.so not built"
# the wrapper must find the library of its own tree, not one named for it
unset XENLOOP_LIBRARY LD_PRELOAD
# An ASan build of the library needs the ASan runtime first in the process:
# it is preloaded before the wrapper runs, which keeps it in front, and the
# programs run here (not ours) are not checked for leaks.
ASAN_RT=$(ldd "$XL_BUILDDIR/preload/.libs/libxenloop.so" 2>/dev/null |
	awk '/libasan/ { print $3 }')
PRE=${ASAN_RT:+$ASAN_RT }
XLRUN=(env ${ASAN_RT:+LD_PRELOAD="$ASAN_RT"}
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$XL")
xl() { "${XLRUN[@]}" "$@"; }

expect_eq() {	# what got want
	[ "$2" = "$3" ] || xl_fail "$1: got '$2', expected '$3'"
	xl_log "ok: $1 = $3"
}

# expect_exit WANT STDERR_PATTERN CMD...: CMD exits WANT and says PATTERN.
expect_exit() {
	local want=$1 pat=$2 rc=0 err
	shift 2
	err=$("$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" -eq "$want" ] || xl_fail "$*: exit $rc, expected $want ($err)"
	grep -q -- "$pat" <<<"$err" || xl_fail "$*: said '$err', not '$pat'"
	xl_log "ok: $* -> $rc ($err)"
}

# ---- the wrapper alone ----
LIB=$(cd "$XL_BUILDDIR/preload/.libs" && pwd -P)/libxenloop.so
expect_eq "--version" "$(xl --version)" \
	"xenloop $("$XL_DAEMON" --version | sed 's/^xenloopd //')"
grep -q 'run \[--\] PROGRAM' <<<"$(xl --help)" || xl_fail "--help lacks run"
expect_eq "LD_PRELOAD, none before" "$(xl run printenv LD_PRELOAD)" \
	"$PRE$LIB"
# prepended, once, whatever separator was used (ld.so complains about the
# made-up entry on stderr and runs the program anyway)
expect_eq "LD_PRELOAD, prepended" \
	"$(LD_PRELOAD="$PRE/nonexistent/a.so:$LIB /nonexistent/b.so" \
		ASAN_OPTIONS=detect_leaks=0 \
		"$XL" run printenv LD_PRELOAD 2>/dev/null)" \
	"$PRE$LIB /nonexistent/a.so /nonexistent/b.so"
expect_eq "program's status" "$(xl run sh -c 'exit 7'; echo $?)" 7
expect_eq "arguments kept" "$(xl run -- printf '<%s>' 'a b' '' '*')" \
	"<a b><><*>"
expect_eq "XENLOOP_* passed" \
	"$(XENLOOP_LOG_LEVEL=warn xl run printenv XENLOOP_LOG_LEVEL)" warn
expect_eq "-r sets XENLOOP_RUNDIR" \
	"$(xl -r /run/elsewhere run printenv XENLOOP_RUNDIR)" /run/elsewhere
expect_exit 127 "no-such-program-xl: command not found" \
	"$XL" run no-such-program-xl
expect_exit 127 "No such file" "$XL" run /nonexistent/prog
expect_exit 126 "Is a directory" "$XL" run /
TMPD=$(mktemp -d /tmp/xenloop-wrapper.XXXXXX)
trap 'rm -rf "$TMPD"' EXIT
printf '#!/bin/sh\necho hi\n' >"$TMPD/noexec"
expect_exit 126 "Permission denied" "$XL" run "$TMPD/noexec"
cp "$(type -P true)" "$TMPD/suid-true"
chmod 4755 "$TMPD/suid-true"
expect_exit 126 "set-user-ID" "$XL" run "$TMPD/suid-true"
expect_exit 125 "cannot find the preload library /nonexistent/lib.so" \
	env XENLOOP_LIBRARY=/nonexistent/lib.so "$XL" run true
expect_exit 125 "cannot find the preload library /nonexistent/l2.so" \
	"$XL" --library /nonexistent/l2.so run true
expect_exit 125 "unknown command" "$XL" frobnicate
expect_exit 125 "a PROGRAM is needed" "$XL" run
expect_exit 125 "a command is needed" "$XL"
expect_exit 125 "unknown option" "$XL" --frob run true
rm -rf "$TMPD"
trap - EXIT

# ---- an unmodified program across two namespaces ----
xl_setup_net
xl_start_daemon "$XL_NS_A"
xl_start_daemon "$XL_NS_B"
xl_wait_peers "$XL_NS_A" "$XL_NS_B"

IN=$XL_RUNDIR/in
OUT=$XL_RUNDIR/out
SIZE=$((16 * 1024 * 1024))
head -c $SIZE /dev/urandom >"$IN"
PORT=5301

# jget NS EXPR...: each Python expression EXPR on NS's status (d), one
# line each, from one status request (python3 starts slowly here and
# there).
jget() {
	local ns=$1
	shift
	xl_status_json "$ns" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for e in sys.argv[1:]:
    print(eval(e))' "$@"
}

listening() {
	ip netns exec "$XL_NS_B" ss -Hltn "sport = :$PORT" | grep -q .
}

# transfer CLIENT_ENV...: socat under "xenloop run" in b receives, socat
# in a sends IN to it (with the environment CLIENT_ENV); OUT must equal IN.
# The sender starts half a second after connecting, by which time the
# channel is there however slow the machine, so that the whole stream can
# be expected on the ring. socat exits without closing its sockets unless
# told to (shut-close), and the library reports a connection's final
# counts at its close().
transfer() {
	local spid rc=0
	rm -f "$OUT"
	ip netns exec "$XL_NS_B" timeout 30 "${XLRUN[@]}" -r "$XL_RUNDIR" run \
		socat -u "TCP-LISTEN:$PORT,bind=$XL_ADDR_B,reuseaddr" \
		"CREATE:$OUT" &
	spid=$!
	xl_pids+=("$spid")
	xl_wait_for 5 listening || xl_fail "socat does not listen in b"
	ip netns exec "$XL_NS_A" env "$@" timeout 30 "${XLRUN[@]}" \
		-r "$XL_RUNDIR" run socat -u \
		"SYSTEM:sleep 0.5; exec cat '$IN'" \
		"TCP:$XL_ADDR_B:$PORT,shut-close" || rc=$?
	wait "$spid" || rc=$?
	[ $rc -eq 0 ] || xl_fail "socat through xenloop run failed ($rc)"
	cmp -s "$IN" "$OUT" || xl_fail "the bytes that arrived differ"
}

# The daemon of NS has seen CONNECTIONS end and none is left open.
closed() {	# NS CONNECTIONS
	[ "$(jget "$1" '(d["totals"]["connections"] == '"$2"' and
		not d["connections"])')" = True ]
}

transfer
xl_wait_for 5 closed "$XL_NS_A" 1 || xl_fail "a did not see the close"
xl_wait_for 5 closed "$XL_NS_B" 1 || xl_fail "b did not see the close"
{ read -r A_RING; read -r A_TCP; read -r A_FALL; } < <(jget "$XL_NS_A" \
	'd["totals"]["ring_tx"]' 'd["totals"]["tcp_tx"]' \
	'sum(d["fallbacks"].values())')
{ read -r NAME_B; read -r B_FALL; } < <(jget "$XL_NS_B" \
	'd["daemon"]["name"]' 'sum(d["fallbacks"].values())')
xl_log "a sent $A_RING bytes through the ring, $A_TCP through the kernel"
expect_eq "bytes a sent" $((A_RING + A_TCP)) $SIZE
# the channel comes within a round trip to the daemons: nearly all of it
[ $((A_RING * 100 / SIZE)) -ge 99 ] ||
	xl_fail "only $A_RING of $SIZE bytes went through the ring"
# b matched the connection (a fallback would be counted by its reason)
expect_eq "a's fallbacks" "$A_FALL" 0
expect_eq "b's fallbacks" "$B_FALL" 0

# xenloop status is xenloopctl status
grep -q "$NAME_B .*$XL_ADDR_B" <<<"$(ip netns exec "$XL_NS_A" "$XL" \
	-r "$XL_RUNDIR" status)" || xl_fail "xenloop status lacks peer b"
ip netns exec "$XL_NS_A" "$XL" -r "$XL_RUNDIR" status --json \
	>"$XL_RUNDIR/status.json"
expect_eq "xenloop status --json" "$(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["totals"]["ring_tx"])' \
	"$XL_RUNDIR/status.json")" "$A_RING"

# XENLOOP_DISABLE=1 reaches the client: it never registers, so a counts
# nothing, while b registered the connection (and waited in vain).
transfer XENLOOP_DISABLE=1
xl_wait_for 5 closed "$XL_NS_B" 2 || xl_fail "b did not see the second close"
expect_eq "a's connections, disabled" \
	"$(jget "$XL_NS_A" 'd["totals"]["connections"]')" 1
xl_log "PASS"
