#!/bin/sh
# SPDX-License-Identifier: MIT
# A short, bounded run of the hostile-peer ring target (tests/fuzz/fuzz_ring,
# libFuzzer under ASan and UBSan) from the seed corpus. Any crash, sanitizer
# report, invariant failure, timeout or leak fails the test; a target that
# was not built (no clang) skips it.
#
# Run by automake's test driver from the build directory; the seeds are
# found through $srcdir, which the driver exports. FUZZ_SMOKE_SECONDS
# changes the budget (default 20 s of fuzzing).
set -u

bin=./tests/fuzz/fuzz_ring
seeds=${srcdir:-.}/tests/fuzz/corpus
secs=${FUZZ_SMOKE_SECONDS:-20}

if [ ! -x "$bin" ]; then
	echo "fuzz-smoke: $bin not built (configure found no clang)"
	exit 77
fi
[ -d "$seeds" ] || { echo "fuzz-smoke: no seed corpus at $seeds"; exit 99; }

work=$(mktemp -d "${TMPDIR:-/tmp}/xenloop-fuzz.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" || exit 99

# A fixed seed, so a failure here reproduces with the same command. New
# inputs go to the scratch dir (the first one); the seeds are only read.
# The outer timeout is a backstop should libFuzzer itself wedge.
status=0
timeout $((secs + 60)) "$bin" "$work/corpus" "$seeds" -seed=1 \
	-max_total_time="$secs" -timeout=5 -rss_limit_mb=1024 \
	-artifact_prefix="$work/" -print_final_stats=1 \
	>"$work/log" 2>&1 || status=$?

found=$(find "$work" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 \
	-name 'timeout-*' -o -maxdepth 1 -name 'oom-*' -o -maxdepth 1 \
	-name 'leak-*')
if [ "$status" -ne 0 ] || [ -n "$found" ]; then
	# the report, the stack and the reproducer, for the test log
	cat "$work/log"
	for f in $found; do
		echo "fuzz-smoke: failing input $(basename "$f"):"
		od -An -tx1 -v "$f" | head -n 64
	done
	echo "fuzz-smoke: FAILED (libFuzzer exit $status)"
	exit 1
fi
grep -E '^(#[0-9]+.*DONE|Done [0-9]+ runs|stat::)' "$work/log"
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
echo "fuzz-smoke: ${runs:-?} inputs in ${secs}s, no failure"
# a run that executed nothing proves nothing
[ "${runs:-0}" -gt 0 ] || exit 1
