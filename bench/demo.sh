#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The xenloop demo, from a fresh Debian 12 machine: installs what it needs,
# builds, creates two network namespaces joined by a bridge with an
# xenloopd in each, runs unmodified sockperf and iperf3 across them over
# kernel TCP and through libxenloop.so, and kernel TCP over loopback inside
# one namespace, prints the comparison and cleans up. The measuring is
# bench/xlbench's (see bench/README.md); options go to it.
#
#   sudo bash bench/demo.sh [--quick] [other bench/xlbench options]
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null; then
		echo "demo: run it as root (it creates network namespaces)" >&2
		exit 1
	fi
	echo "demo: network namespaces need root; running it again" \
		"under sudo" >&2
	exec sudo bash "$top/bench/demo.sh" "$@"
fi
# shellcheck source=tests/deps.sh
. "$top/tests/deps.sh"
root=${XL_BUILD_ROOT:-$top/build}

xl_install_deps
echo "xenloop: building into $root/default"
xl_build "$root/default" --enable-werror
echo "xenloop: sockperf and iperf3, kernel TCP against xenloop" \
	"(a few minutes; --quick: under a minute)"
exec "$top/bench/xlbench" --build "$root/default" "$@"
