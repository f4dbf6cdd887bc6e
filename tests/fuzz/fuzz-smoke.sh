#!/bin/sh
# SPDX-License-Identifier: MIT
# A short bounded fuzz run of the hostile-peer ring target, under ASan and
# UBSan. Any crash, sanitizer report or invariant failure fails the test.
set -eu
bin=./tests/fuzz/fuzz_ring
[ -x "$bin" ] || { echo "fuzz target not built (needs clang)"; exit 77; }
work=$(mktemp -d /tmp/xenloop-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
# fixed seed: a failure reproduces; the corpus starts empty each run
mkdir "$work/corpus"
status=0
"$bin" "$work/corpus" -seed=1 -max_total_time="${FUZZ_SMOKE_SECONDS:-25}" \
	-timeout=5 -rss_limit_mb=1024 -artifact_prefix="$work/" \
	-print_final_stats=1 >"$work/log" 2>&1 || status=$?
tail -n 15 "$work/log"
if ls "$work"/crash-* "$work"/timeout-* "$work"/oom-* >/dev/null 2>&1; then
	echo "fuzz smoke: failing input found:"
	ls "$work"/crash-* "$work"/timeout-* "$work"/oom-* 2>/dev/null
	exit 1
fi
exit $status
