#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole xenloop test suite, from a fresh Debian 12 machine: installs the
# build dependencies, builds twice (warnings as errors; ASan+UBSan), runs
# every test in both builds, runs the Xen system under QEMU (make
# check-xen: a few minutes of TCG), builds, checks, installs and uses the
# Debian packages (tests/pkg/deb.sh, about two minutes), and checks that
# bench/ring, bench/xlbench and bench/xlscale produce their reports.
#
#   sudo bash tests/run-all.sh        (.ci/run calls exactly this)
#
# Build trees go to $XL_BUILD_ROOT (default: build/ in the source tree).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tests/deps.sh
. "$top/tests/deps.sh"
root=${XL_BUILD_ROOT:-$top/build}
status=0
passed=0
failed=0

step() { printf '\n==== %s\n' "$*"; }

# Add a build tree's automake results (test-suite.log) to the totals.
count_in() {
	local log=$1/test-suite.log p f
	if [ ! -f "$log" ]; then
		failed=$((failed + 1))
		return
	fi
	p=$(sed -n 's/^# PASS: *//p' "$log" 2>/dev/null | head -n1)
	f=$(sed -n 's/^# \(FAIL\|ERROR\|XPASS\): *//p' "$log" 2>/dev/null |
		awk '{ s += $1 } END { print s + 0 }')
	# Check's own summary line of each unit-test program
	grep -h -E '^[0-9]+%: Checks: ' "$1"/tests/unit/*.log 2>/dev/null || true
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-1}))
}

# Run make check in a build tree; on failure show the failing logs.
check_in() {
	local dir=$1
	if ! (cd "$dir" && make -j"$(nproc)" check); then
		find "$dir/tests" -name '*.log' ! -name 'test-suite.log' -print0 |
			xargs -0 grep -l -E '^(FAIL|ERROR)' 2>/dev/null |
			while read -r f; do echo "--- $f"; tail -n 60 "$f"; done
		status=1
	fi
}

step "dependencies"
xl_install_deps

step "build (warnings are errors)"
xl_build "$root/default" --enable-werror
step "tests (default build)"
check_in "$root/default"
count_in "$root/default"

step "build (ASan + UBSan)"
xl_build "$root/sanitize" --enable-werror --enable-sanitizers
step "tests (ASan + UBSan build)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	check_in "$root/sanitize"
count_in "$root/sanitize"

# Xen 4.17, dom0 and three guests under QEMU (tests/xen/README.md): the Xen
# transport, discovery and unmodified programs through grant rings, for
# real. It installs its own packages and
# prints "N passed, M failed" for its checks.
step "Xen under QEMU (make check-xen)"
if out=$(cd "$root/default" && make check-xen 2>&1); then
	printf '%s\n' "$out" | tail -n 4
	n=$(printf '%s\n' "$out" |
		sed -n 's/^\([0-9]*\) passed, 0 failed$/\1/p' | tail -n1)
	passed=$((passed + ${n:-0}))
else
	printf '%s\n' "$out" | tail -n 80
	failed=$((failed + 1))
	status=1
fi

# The Debian packages (tests/pkg/deb.sh): built from a copy of the tree,
# lintian, installed in a private overlay of the system, the local daemon
# run from them and one transfer under LD_PRELOAD=libxenloop.so, removed.
# A package build takes minutes: a step of its own, not in make check. It
# prints "N passed, 0 failed" for its checks; 77 is a skip.
step "Debian packages (tests/pkg/deb.sh)"
rc=0
out=$(timeout 420 bash "$top/tests/pkg/deb.sh" 2>&1) || rc=$?
if [ $rc -eq 0 ]; then
	printf '%s\n' "$out" | grep -E '^(e2e: ok:|lintian:)' || true
	n=$(printf '%s\n' "$out" |
		sed -n 's/^\([0-9]*\) passed, 0 failed$/\1/p' | tail -n1)
	passed=$((passed + ${n:-0}))
elif [ $rc -eq 77 ]; then
	printf '%s\n' "$out" | tail -n 3
	echo "Debian packages: skipped"
else
	printf '%s\n' "$out" | tail -n 80
	failed=$((failed + 1))
	status=1
fi

# The benchmarks' reports are produced and well formed (shape, not speed):
# bench/ring (a few seconds), bench/xlbench (about 35 s) and bench/xlscale
# (about 70 s; each bounds every run of its own, the timeout is the
# backstop and lets it clean up).
bench_check() {	# KIND COMMAND...
	local kind=$1 out
	shift
	if out=$(timeout 300 "$@"); then
		printf '%s\n' "$out"
		if python3 "$top/tests/check-bench-json.py" "$kind" \
			<<<"$out"; then
			passed=$((passed + 1))
			return
		fi
	else
		echo "$kind failed"
	fi
	failed=$((failed + 1))
	status=1
}
step "bench/ring, bench/xlbench and bench/xlscale: --quick --json"
bench_check ring "$root/default/bench/ring" --quick --json
bench_check xlbench "$top/bench/xlbench" --build "$root/default" --quick --json
bench_check xlscale "$top/bench/xlscale" --build "$root/default" --quick --json

step "summary"
[ $failed -eq 0 ] || status=1
echo "tests: $passed passed, $failed failed"
exit $status
