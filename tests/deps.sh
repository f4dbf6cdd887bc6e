#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install what building and testing xenloop needs on Debian 12 (root or
# sudo). Sourced by tests/run-all.sh and bench/demo.sh; safe to run again.
set -euo pipefail

XL_PACKAGES=(
	build-essential autoconf automake autoconf-archive libtool pkg-config
	check libxen-dev clang libclang-rt-14-dev python3 iproute2 procps
	iperf3 sockperf socat iputils-ping man-db groff-base systemd
	redis-server redis-tools nginx-light curl wrk memcached gnuplot-nox
	libmemcached-tools postgresql postgresql-contrib strace
)

xl_install_deps() {
	local sudo=() missing=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	for p in "${XL_PACKAGES[@]}" "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "xenloop: installing ${missing[*]}"
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
}

# Configure and build into $1 (extra configure arguments follow).
xl_build() {
	local dir=$1 top
	shift
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ]; then
		(cd "$top" && autoreconf -fi >/dev/null)
	fi
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@" && make -j"$(nproc)" >/dev/null)
}
