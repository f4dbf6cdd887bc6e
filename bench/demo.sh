#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The xenloop demo, from a fresh Debian 12 machine: installs the build
# dependencies, builds, and runs the channel benchmark (two processes over a
# shared-memory ring against TCP loopback and a Unix socket pair, ratios
# printed).
#
#   sudo bash bench/demo.sh [bench/ring options]
#
# The transparent end-to-end demo (two network namespaces, unmodified
# iperf3/sockperf with and without LD_PRELOAD) replaces this once the daemon
# and the preload library exist; see README.md, "Status".
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tests/deps.sh
. "$top/tests/deps.sh"
root=${XL_BUILD_ROOT:-$top/build}

xl_install_deps
echo "xenloop: building into $root/default"
xl_build "$root/default" --enable-werror
exec "$root/default/bench/ring" "$@"
