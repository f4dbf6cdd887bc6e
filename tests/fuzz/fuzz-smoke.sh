#!/bin/sh
# SPDX-License-Identifier: MIT
# A short, bounded run of each fuzz target (libFuzzer under ASan and UBSan)
# from its seed corpus: tests/fuzz/fuzz_ring (a hostile peer half of a
# channel) and tests/fuzz/fuzz_ctl (hostile control messages, addresses
# and configuration files). Any crash, sanitizer report, invariant
# failure, timeout or leak fails the test; targets that were not built (no
# clang) skip it.
#
# Run by automake's test driver from the build directory; the seeds are
# found through $srcdir, which the driver exports. FUZZ_SMOKE_SECONDS
# changes the budget of each target (default: 15 s ring, 8 s ctl);
# FUZZ_SMOKE_SEED the libFuzzer seed (default 1: a failure reproduces with
# the same command).
set -u

seed=${FUZZ_SMOKE_SEED:-1}
work=$(mktemp -d "${TMPDIR:-/tmp}/xenloop-fuzz.XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT

# smoke NAME SEEDS SECONDS: fuzz tests/fuzz/NAME; 0 if it found nothing.
smoke() {
	bin=./tests/fuzz/$1
	seeds=${srcdir:-.}/tests/fuzz/$2
	secs=${FUZZ_SMOKE_SECONDS:-$3}
	dir=$work/$1

	if [ ! -d "$seeds" ]; then
		echo "fuzz-smoke: no seed corpus at $seeds"
		return 99
	fi
	mkdir "$dir" "$dir/corpus" || return 99
	# New inputs go to the scratch dir (the first one); the seeds are
	# only read. The outer timeout is a backstop should libFuzzer itself
	# wedge.
	status=0
	timeout $((secs + 60)) "$bin" "$dir/corpus" "$seeds" -seed="$seed" \
		-max_total_time="$secs" -timeout=5 -rss_limit_mb=1024 \
		-artifact_prefix="$dir/" -print_final_stats=1 \
		>"$dir/log" 2>&1 || status=$?
	found=$(find "$dir" -maxdepth 1 \( -name 'crash-*' -o \
		-name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \))
	if [ "$status" -ne 0 ] || [ -n "$found" ]; then
		# the report, the stack and the reproducer, for the test log
		cat "$dir/log"
		for f in $found; do
			echo "fuzz-smoke: $1: failing input $(basename "$f"):"
			od -An -tx1 -v "$f" | head -n 64
		done
		# the cause again, last: CI shows only the end of this log
		echo "fuzz-smoke: $1: what failed:"
		grep -E 'invariant failed|ERROR: |runtime error|^ +#[0-9] |^SUMMARY' \
			"$dir/log" | head -n 16
		echo "fuzz-smoke: $1 FAILED (libFuzzer exit $status);" \
			"reproduce: $bin FILE"
		return 1
	fi
	grep -E '^(#[0-9]+.*DONE|Done [0-9]+ runs|stat::)' "$dir/log"
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
	echo "fuzz-smoke: $1: ${runs:-?} inputs in ${secs}s, no failure"
	# a run that executed nothing proves nothing
	[ "${runs:-0}" -gt 0 ]
}

for t in fuzz_ring fuzz_ctl; do
	if [ ! -x "./tests/fuzz/$t" ]; then
		echo "fuzz-smoke: ./tests/fuzz/$t not built" \
			"(configure found no clang)"
		exit 77
	fi
done

rc=0
smoke fuzz_ring corpus 15 || rc=$?
smoke fuzz_ctl corpus-ctl 8 || rc=$?
exit $rc
