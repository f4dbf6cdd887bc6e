# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# What the edge tests (semantics, onesided, killpeer, forkserver) share on top
# of lib.sh: the preload list a sanitizer build needs, the shim for our own
# programs and for other people's, and questions to the daemons.
# Sourced by the tests.

. "${XL_TOP_SRCDIR:-$(dirname "${BASH_SOURCE[0]}")/../..}/tests/e2e/lib.sh"

SEM=$XL_BUILDDIR/tests/e2e/semantics
# The system's interpreter when there is one: a version manager's shim
# (pyenv) costs up to seconds a call on a busy machine, and lib.sh asks
# python3 at every turn of its waits.
E2_PY=python3
if [ -x /usr/bin/python3 ]; then
	E2_PY=/usr/bin/python3
	python3() { /usr/bin/python3 "$@"; }
fi

# An ASan build of the library needs the ASan runtime first in the list
# of libraries, or the runtime refuses to start in an uninstrumented
# program. Sets E2_PRELOAD.
e2_preload_setup() {
	local asan
	[ -f "$XL_PRELOAD" ] || xl_skip "libxenloop.so not built ($XL_PRELOAD)"
	[ -x "$XL_CTL" ] || xl_skip "xenloopctl not built ($XL_CTL)"
	asan=$(ldd "$XL_PRELOAD" 2>/dev/null | awk '/libasan/ { print $3 }')
	E2_PRELOAD=$XL_PRELOAD
	[ -z "$asan" ] || E2_PRELOAD=$asan:$XL_PRELOAD
}

# Run "$@" in namespace $1 under the library (our own programs: a
# sanitizer build checks them for leaks too).
e2_shim() {
	local ns=$1
	shift
	ip netns exec "$ns" env LD_PRELOAD="$E2_PRELOAD" \
		XENLOOP_RUNDIR="$XL_RUNDIR" "$@"
}

# e2_shim for programs that are not ours (socat, python3): their leaks are
# none of our business.
e2_tool() {
	local ns=$1
	shift
	e2_shim "$ns" env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}$(
		)detect_leaks=0" "$@"
}

# e2_jget NS EXPR: the Python expression EXPR on NS's status document (d).
e2_jget() {
	xl_status_json "$1" |
		"$E2_PY" -c "import json,sys; d=json.load(sys.stdin); print($2)"
}

e2_expect_eq() {	# what got want
	[ "$2" = "$3" ] || xl_fail "$1: got '$2', expected '$3'"
	xl_log "ok: $1 = $3"
}

e2_no_connections() {
	[ "$(e2_jget "$1" 'len(d["connections"])')" = 0 ]
}

# The connection tables of the daemons of namespaces "$@" empty within
# $E2_EMPTY_S seconds (a closed or killed process is noticed at once).
E2_EMPTY_S=${E2_EMPTY_S:-3}
e2_wait_empty() {
	local ns
	for ns in "$@"; do
		xl_wait_for "$E2_EMPTY_S" e2_no_connections "$ns" ||
			xl_fail "$ns still lists connections:" \
				"$(xl_status_json "$ns")"
	done
}

# Milliseconds since the epoch.
e2_ms() {
	date +%s%3N
}
