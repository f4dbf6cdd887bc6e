#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Debian packages (debian/, issue 15): built with dpkg-buildpackage
# -us -uc -b from a copy of the tree (the files git knows, as they are
# now: the source tree gets no build products), checked by lintian (no
# error allowed; warnings are printed), installed with dpkg -i, used, and
# removed with dpkg --purge.
#
# The install happens in a mount namespace of this test's own, where /usr,
# /etc and /var (and /lib, /bin, /sbin where they are not links into /usr)
# are overlays whose writes go to a scratch directory: dpkg, its triggers
# (ldconfig, man-db) and the maintainer scripts run for real, and the
# machine is left as it was whatever way the test ends. No systemd runs
# here, so the local daemon is started by hand, in two network namespaces
# (tests/e2e/lib.sh), as /usr/sbin/xenloopd from the package; socat in
# each, under LD_PRELOAD=libxenloop.so by its bare name, moves 64 MiB
# from one to the other, and both daemons (asked with the package's
# xenloopctl) must account for the same bytes, at least 99% of them on
# the ring.
#
# xenloop-dkms is installed with them: its files must be in
# /usr/src/xenloop-<version>/ (dkms.conf with that PACKAGE_VERSION, the
# module's sources, the ABI header), and its postinst must have run
# `dkms add` (dkms status: xenloop/<version> added). Where a kernel in
# /lib/modules has its headers (linux-headers-*), the postinst also builds
# and installs the module for it, and the test then checks xenloop.ko is
# in that kernel's updates/dkms/ (it cannot be loaded here, outside a Xen
# guest). dpkg --purge must remove it all from dkms again.
#
# Run by tests/run-all.sh as a step of its own (a package build takes a
# few minutes), not by make check. Needs root and Debian's packaging
# tools, which it installs (apt-get); exits 77 without root or git.
# XL_DEB_BUILD_OPTIONS: DEB_BUILD_OPTIONS of the build (default "nocheck":
# the unit tests run in the suite's own builds already).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export XL_TOP_SRCDIR=$top
# shellcheck source=tests/e2e/data-lib.sh
. "$top/tests/e2e/data-lib.sh"

passed=${XL_DEB_PASSED:-0}
ok() {
	passed=$((passed + 1))
	xl_log "ok: $*"
}

deb_outside() {
	local work rc=0 out tags before
	xl_require_root
	command -v git >/dev/null && git -C "$top" rev-parse >/dev/null 2>&1 ||
		xl_skip "needs git and a git checkout (the files to package)"
	# shellcheck source=tests/deps.sh
	. "$top/tests/deps.sh"
	xl_install_deps debhelper dh-autoreconf lintian fakeroot dpkg-dev \
		dh-dkms dkms systemd socat
	grep -qw overlay /proc/filesystems || xl_skip "needs overlayfs"

	work=$(mktemp -d /tmp/xenloop-deb.XXXXXX)
	# shellcheck disable=SC2064 # the directory is known now
	trap "rm -rf '$work'" EXIT
	mkdir "$work/src"
	git -C "$top" ls-files -z -c -o --exclude-standard |
		(cd "$top" && tar --null -T - -cf -) | tar -xf - -C "$work/src"
	[ -x "$work/src/debian/rules" ] || xl_fail "no debian/rules in the copy"

	before=$(git -C "$top" status --porcelain --ignored -- debian)
	xl_log "dpkg-buildpackage -us -uc -b in $work/src"
	if ! (cd "$work/src" &&
		DEB_BUILD_OPTIONS=${XL_DEB_BUILD_OPTIONS-nocheck} \
		timeout 330 dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
		tail -n 60 "$work/build.log" >&2
		xl_fail "dpkg-buildpackage failed"
	fi
	ok "dpkg-buildpackage -us -uc -b ($(grep -c '^dpkg-deb: building' \
		"$work/build.log") packages)"
	[ "$(git -C "$top" status --porcelain --ignored -- debian)" = \
		"$before" ] || xl_fail "the build changed the source tree's debian/"
	for p in xenloop libxenloop xenloop-dkms; do
		ls "$work"/${p}_*.deb >/dev/null 2>&1 || xl_fail "no $p package"
	done

	# lintian: errors fail the test, warnings are shown (E: and W: lines)
	out=$(cd "$work" && timeout 120 lintian --fail-on error -I ./*.changes \
		2>&1) || rc=$?
	tags=$(grep -E '^[EWI]: ' <<<"$out" || true)
	[ -z "$tags" ] || sed 's/^/lintian: /' <<<"$tags" >&2
	[ $rc -eq 0 ] && ! grep -q '^E: ' <<<"$out" ||
		xl_fail "lintian reports errors (exit $rc): $out"
	ok "lintian: no error ($(grep -c '^W: ' <<<"$tags" || true) warnings)"

	rc=0
	XL_DEB_PRIVATE=$work XL_DEB_PASSED=$passed timeout 240 \
		unshare --mount --propagation private -- bash "$0" || rc=$?
	exit $rc
}

# xenloop-dkms as installed (deb_inside): the source tree, what dkms made
# of it. Sets XL_DEB_DKMS_SRC and XL_DEB_DKMS_KOS for the purge checks.
deb_dkms() {
	local ver src f st k n=0 built=""
	ver=$(dpkg-query -W -f='${Version}' xenloop-dkms)
	ver=${ver#*:}
	ver=${ver%-*}
	src=/usr/src/xenloop-$ver
	XL_DEB_DKMS_SRC=$src
	XL_DEB_DKMS_KOS=""
	for f in dkms.conf Kbuild Makefile xlk_main.c xlk_chan.c xlk_chan.h \
		xlk_core.c xlk_core.h include/xenloop/xenloop_dev.h; do
		[ -s "$src/$f" ] || xl_fail "$src/$f is not installed"
		[ "$f" = dkms.conf ] || cmp -s "$src/$f" "$top/driver/linux/$f" ||
			cmp -s "$src/$f" "$top/$f" ||
			xl_fail "$src/$f differs from the project's"
	done
	grep -qx 'PACKAGE_NAME="xenloop"' "$src/dkms.conf" &&
		grep -qx "PACKAGE_VERSION=\"$ver\"" "$src/dkms.conf" ||
		xl_fail "$src/dkms.conf: not xenloop $ver: $(grep PACKAGE_ \
			"$src/dkms.conf")"
	ok "xenloop-dkms: $src holds dkms.conf (xenloop $ver) and the sources"

	# "xenloop/<ver>: added", or ", <kernel>, <arch>: built|installed"
	st=$(dkms status xenloop 2>&1)
	xl_log "dkms status: ${st:-(nothing)}"
	grep -q "^xenloop/$ver\(,.*\)\?: \(added\|built\|installed\)" <<<"$st" ||
		xl_fail "dkms status does not show xenloop/$ver added: '$st'"
	# the postinst builds and installs for the running kernel and the
	# newest one, or for all when the running one is not installed (a
	# container's host): at least one of those with headers here
	for k in /lib/modules/*; do
		[ -e "$k/build/Makefile" ] && n=$((n + 1))
	done
	for k in $(sed -n "s|^xenloop/$ver, \([^,]*\), [^:]*: installed.*|\1|p" \
		<<<"$st"); do
		f=$(find "/lib/modules/$k/updates/dkms" -name 'xenloop.ko*' \
			2>/dev/null | head -n 1)
		[ -n "$f" ] && modinfo -F vermagic "$f" | grep -q "^$k " ||
			xl_fail "dkms says installed, but no xenloop.ko for $k"
		XL_DEB_DKMS_KOS="$XL_DEB_DKMS_KOS $f"
		built="$built $k"
	done
	if [ $n -eq 0 ]; then
		ok "dkms status: xenloop/$ver added (no kernel headers here: \
not built)"
	else
		[ -n "$built" ] || xl_fail "$n kernel(s) with headers in \
/lib/modules, but dkms installed xenloop for none: '$st'"
		ok "dkms status: xenloop/$ver added, built and installed for$built"
	fi
}

# A copy-on-write view of directory $1: writes go under $2.
deb_overlay() {
	local d=$1 tag
	tag=$(printf '%s' "$d" | tr / _)
	mkdir -p "$2/$tag.up" "$2/$tag.work"
	mount -t overlay "xl-deb$tag" -o \
		"lowerdir=$d,upperdir=$2/$tag.up,workdir=$2/$tag.work" "$d" ||
		xl_fail "cannot overlay $d"
}

deb_inside() {
	local work=$XL_DEB_PRIVATE d triplet lib got u in out
	for d in /usr /etc /var /lib /lib64 /bin /sbin; do
		[ -d "$d" ] && [ ! -L "$d" ] && deb_overlay "$d" "$work/overlay"
	done
	triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
	lib=/usr/lib/$triplet/libxenloop.so
	[ ! -e "$lib" ] || xl_fail "$lib exists before the install"
	! dkms status xenloop 2>/dev/null | grep -q . ||
		xl_fail "dkms knows xenloop before the install"

	# shellcheck disable=SC2046 # one argument per package
	DEBIAN_FRONTEND=noninteractive dpkg -i \
		$(ls "$work"/libxenloop_*.deb "$work"/xenloop_*.deb \
			"$work"/xenloop-dkms_*.deb) \
		>"$work/dpkg.log" 2>&1 || {
		cat "$work/dpkg.log" >&2
		xl_fail "dpkg -i failed"
	}
	for p in xenloop libxenloop xenloop-dkms; do
		[ "$(dpkg-query -W -f='${Status}' $p)" = "install ok installed" ] ||
			xl_fail "$p is not installed"
	done
	for f in /usr/sbin/xenloopd /usr/bin/xenloopctl /usr/bin/xenloop \
		"$lib" /etc/xenloop.conf /usr/share/man/man8/xenloopd.8.gz \
		/lib/systemd/system/xenloopd.service \
		/lib/systemd/system/xenloopd-xen.service \
		/lib/systemd/system/xenloopd-discovery.service; do
		[ -e "$f" ] || xl_fail "$f is not installed"
	done
	ok "dpkg -i xenloop libxenloop xenloop-dkms"

	deb_dkms

	# (on a merged /usr the cache may name it under /lib: the same file)
	got=$(ldconfig -p | sed -n 's/^\tlibxenloop.so .*=> //p')
	[ -n "$got" ] && [ "$(readlink -f "$got")" = "$(readlink -f "$lib")" ] ||
		xl_fail "the ldconfig trigger did not run: $lib is not cached"
	got=$(cd / && LD_PRELOAD=libxenloop.so cat /proc/self/maps |
		awk '/libxenloop/ { print $6 }' | sort -u)
	[ -n "$got" ] && [ "$(readlink -f "$got")" = "$(readlink -f "$lib")" ] ||
		xl_fail "LD_PRELOAD=libxenloop.so mapped '$got'"
	got=$(cd / && env -u XENLOOP_LIBRARY xenloop run printenv LD_PRELOAD)
	[ "$got" = "$lib" ] || xl_fail "xenloop run preloads '$got'"
	ok "LD_PRELOAD=libxenloop.so and xenloop run load $lib"

	out=$(cd /lib/systemd/system && systemd-analyze verify \
		xenloopd.service xenloopd-xen.service \
		xenloopd-discovery.service 2>&1) && [ -z "$out" ] ||
		xl_fail "systemd-analyze verify: $out"
	for u in /etc/systemd/system/*.wants/xenloopd*.service; do
		[ ! -e "$u" ] || xl_fail "$u: the package enabled a unit"
	done
	ok "the three units verify clean; none is enabled"

	# the local daemon by hand, in two namespaces, from the package
	XL_DAEMON=/usr/sbin/xenloopd
	XL_CTL=/usr/bin/xenloopctl
	xl_setup_net
	xl_start_daemon "$XL_NS_A"
	xl_start_daemon "$XL_NS_B"
	xl_wait_for 10 xl_data_peer "$XL_NS_A" || xl_fail "no peer seen from a"
	xl_wait_for 10 xl_data_peer "$XL_NS_B" || xl_fail "no peer seen from b"
	in=$XL_RUNDIR/in
	out=$XL_RUNDIR/out
	head -c $((64 << 20)) /dev/urandom >"$in"
	# the sender starts half a second after connecting, once the channel
	# is there; shut-close makes socat close (the library reports a
	# connection's counts at its close)
	xl_bg ip netns exec "$XL_NS_B" env LD_PRELOAD=libxenloop.so \
		XENLOOP_RUNDIR="$XL_RUNDIR" timeout 60 socat -u \
		"TCP-LISTEN:5501,bind=$XL_ADDR_B,reuseaddr" "CREATE:$out"
	xl_wait_for 10 xl_data_listening "$XL_NS_B" 5501 ||
		xl_fail "socat does not listen in b"
	ip netns exec "$XL_NS_A" env LD_PRELOAD=libxenloop.so \
		XENLOOP_RUNDIR="$XL_RUNDIR" timeout 60 socat -u \
		"SYSTEM:sleep 0.5; exec cat '$in'" \
		"TCP:$XL_ADDR_B:5501,shut-close" || xl_fail "socat in a failed"
	wait "$XL_LAST_PID" || xl_fail "socat in b failed"
	cmp -s "$in" "$out" || xl_fail "the bytes that arrived differ"
	xl_check_ring "deb" 1 exact
	ok "64 MiB a -> b under LD_PRELOAD=libxenloop.so, on the ring"

	DEBIAN_FRONTEND=noninteractive dpkg --purge xenloop-dkms xenloop \
		libxenloop \
		>"$work/dpkg.log" 2>&1 || {
		cat "$work/dpkg.log" >&2
		xl_fail "dpkg --purge failed"
	}
	for f in /usr/sbin/xenloopd "$lib" /etc/xenloop.conf; do
		[ ! -e "$f" ] || xl_fail "$f is left after dpkg --purge"
	done
	! grep -q libxenloop.so <<<"$(ldconfig -p)" ||
		xl_fail "libxenloop.so is still cached after dpkg --purge"
	[ ! -e "$XL_DEB_DKMS_SRC" ] ||
		xl_fail "$XL_DEB_DKMS_SRC is left after dpkg --purge"
	[ -z "$(dkms status xenloop 2>/dev/null)" ] ||
		xl_fail "dkms still knows xenloop: $(dkms status xenloop)"
	for f in $XL_DEB_DKMS_KOS; do
		[ ! -e "$f" ] || xl_fail "$f is left after dpkg --purge"
	done
	ok "dpkg --purge xenloop-dkms xenloop libxenloop leaves nothing behind"
	xl_log "deb: all checks passed"
	echo "$passed passed, 0 failed"
}

if [ -n "${XL_DEB_PRIVATE:-}" ]; then
	deb_inside
else
	deb_outside
fi
