#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# "make install" as an administrator uses it (issue 15): the library lands
# in $(libdir), where the dynamic loader looks, so that a bare
# LD_PRELOAD=libxenloop.so finds it, and the installed "xenloop run" finds
# it too; xenloopd in $(sbindir); the three systemd units, which
# "systemd-analyze verify" accepts.
#
# Nothing on the machine changes: the test re-runs itself in a mount
# namespace of its own, where $(prefix) and /etc are overlays whose
# writes go to a scratch directory, and installs there for real (ldconfig
# included, which writes /etc/ld.so.cache). First a staged install
# (DESTDIR), which must not run ldconfig, with the bare name found through
# LD_LIBRARY_PATH; then the real one, with the bare name found through the
# loader's cache. Last, two byte-exact transfers between two namespaces
# with the installed daemon, xenloopctl and library: one under
# LD_PRELOAD=libxenloop.so, one under the installed "xenloop run", each
# carried by the ring.
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/data-lib.sh"

xl_require_root
xl_require_cmd unshare mount ldconfig systemd-analyze make timeout ss \
	sha256sum python3
[ -f "$XL_BUILDDIR/Makefile" ] || xl_skip "no build tree at $XL_BUILDDIR"
BULK=$XL_BUILDDIR/tests/e2e/xl_bulk
[ -x "$BULK" ] || xl_skip "xl_bulk not built ($BULK)"
grep -qw overlay /proc/filesystems || xl_skip "needs overlayfs"

if [ -z "${XL_INSTALL_PRIVATE:-}" ]; then
	XL_INSTALL_PRIVATE=1 exec timeout 240 \
		unshare --mount --propagation private -- bash "$0" "$@"
fi

# The build tree's installation directories, as make sees them.
xl_make_var() {
	# not the flags of a make check around us: they print directories
	printf 'xl-print-var:\n\t@echo $(%s)\n' "$1" |
		env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make -s --no-print-directory -C "$XL_BUILDDIR" -f Makefile \
			-f - xl-print-var
}
prefix=$(xl_make_var prefix)
libdir=$(xl_make_var libdir)
sbindir=$(xl_make_var sbindir)
bindir=$(xl_make_var bindir)
pkglibdir=$(xl_make_var pkglibdir)
unitdir=$(xl_make_var systemdsystemunitdir)
if [ "$unitdir" = auto ]; then
	unitdir=$(pkg-config --define-variable=prefix="$prefix" \
		--define-variable=rootprefix="$prefix" \
		--variable=systemdsystemunitdir systemd 2>/dev/null) ||
		xl_skip "systemd's pkg-config file is missing: no units"
fi
[ "$unitdir" != no ] || xl_skip "configured --without-systemdsystemunitdir"
[ -d "$prefix" ] || xl_skip "$prefix does not exist"
xl_log "prefix $prefix, libdir $libdir, sbindir $sbindir, units $unitdir"
UNITS="xenloopd.service xenloopd-xen.service xenloopd-discovery.service"

# The namespaces, the daemons and their run directory (cleaned up at exit
# by lib.sh); the scratch directories live in that run directory.
xl_setup_net
S=$XL_RUNDIR/scratch

# A copy-on-write view of directory $1 whose writes go to the scratch.
xl_overlay() {
	local d=$1 tag
	tag=$(printf '%s' "$d" | tr / _)
	mkdir -p "$S/$tag.up" "$S/$tag.work"
	mount -t overlay "xl-install$tag" -o \
		"lowerdir=$d,upperdir=$S/$tag.up,workdir=$S/$tag.work" "$d" ||
		xl_fail "cannot overlay $d"
}
xl_overlay /etc
[ "$prefix" = /etc ] || xl_overlay "$prefix"

# The process's own mappings, to see which file a preload came from.
mapped() {	# ENV... (run in / so that no relative path can help)
	(cd / && env "$@" cat /proc/self/maps) | awk '/libxenloop/ { print $6 }' |
		sort -u
}
# An ASan build's library needs the ASan runtime first in the list.
ASAN_RT=$(ldd "$XL_BUILDDIR/preload/.libs/libxenloop.so" 2>/dev/null |
	awk '/libasan/ { print $3 }')
PRE=${ASAN_RT:+$ASAN_RT:}

# ---- a staged install: no ldconfig, every file under DESTDIR ----
D=$S/dest
cache0=$(sha256sum /etc/ld.so.cache 2>/dev/null || echo none)
out=$(make -C "$XL_BUILDDIR" install DESTDIR="$D" 2>&1) ||
	xl_fail "make install DESTDIR=$D failed: $(tail -n 20 <<<"$out")"
grep -q "DESTDIR set: ldconfig not run" <<<"$out" ||
	xl_fail "the staged install does not say it skipped ldconfig"
[ "$(sha256sum /etc/ld.so.cache 2>/dev/null || echo none)" = "$cache0" ] ||
	xl_fail "the staged install changed /etc/ld.so.cache"
for f in "$libdir/libxenloop.so" "$sbindir/xenloopd" "$bindir/xenloopctl" \
	"$bindir/xenloop"; do
	[ -e "$D$f" ] || xl_fail "staged install: $D$f is missing"
	[ ! -e "$f" ] || xl_fail "staged install: $f exists outside DESTDIR"
done
[ ! -e "$D$pkglibdir/libxenloop.so" ] ||
	xl_fail "the library is still installed in $pkglibdir"
for u in $UNITS; do
	[ -f "$D$unitdir/$u" ] || xl_fail "staged install: $u is missing"
	grep -q "^ExecStart=$sbindir/xenloopd" "$D$unitdir/$u" ||
		xl_fail "$u does not start $sbindir/xenloopd"
done
got=$(mapped LD_LIBRARY_PATH="$D$libdir" LD_PRELOAD="${PRE}libxenloop.so")
[ "$got" = "$D$libdir/libxenloop.so" ] ||
	xl_fail "LD_PRELOAD=libxenloop.so with LD_LIBRARY_PATH: mapped '$got'"
xl_log "ok: staged install under $D, ldconfig not run, the bare name" \
	"found through LD_LIBRARY_PATH"

# ---- the real install: ldconfig, the loader's cache, xenloop run ----
before=$(mapped LD_PRELOAD="${PRE}libxenloop.so" 2>/dev/null)
[ -z "$before" ] || xl_log "note: the loader found $before before the install"
out=$(make -C "$XL_BUILDDIR" install 2>&1) ||
	xl_fail "make install failed: $(tail -n 20 <<<"$out")"
grep -q "^ ldconfig$" <<<"$out" || xl_fail "make install did not run ldconfig"
grep -q "libxenloop.so .*=> $libdir/libxenloop.so$" <<<"$(ldconfig -p)" ||
	xl_fail "ldconfig did not cache $libdir/libxenloop.so (is $libdir" \
		"among the loader's directories?)"
got=$(mapped LD_PRELOAD="${PRE}libxenloop.so")
[ "$got" = "$libdir/libxenloop.so" ] ||
	xl_fail "LD_PRELOAD=libxenloop.so mapped '$got', not $libdir/libxenloop.so"
xl_log "ok: make install ran ldconfig; LD_PRELOAD=libxenloop.so maps $got"
unset XENLOOP_LIBRARY
got=$(cd / && env ${ASAN_RT:+LD_PRELOAD="$ASAN_RT"} \
	"$bindir/xenloop" run printenv LD_PRELOAD)
[ "$got" = "${ASAN_RT:+$ASAN_RT }$libdir/libxenloop.so" ] ||
	xl_fail "the installed xenloop run preloads '$got'"
xl_log "ok: the installed xenloop run preloads $got"
# shellcheck disable=SC2086 # one argument per unit
if ! out=$(cd "$unitdir" && systemd-analyze verify $UNITS 2>&1) ||
	[ -n "$out" ]; then
	xl_fail "systemd-analyze verify: $out"
fi
xl_log "ok: systemd-analyze verify $UNITS: clean"

# ---- the installed programs across two namespaces ----
XL_DAEMON=$sbindir/xenloopd
XL_CTL=$bindir/xenloopctl
xl_start_daemon "$XL_NS_A"
xl_start_daemon "$XL_NS_B"
xl_wait_for 10 xl_data_peer "$XL_NS_A" || xl_fail "no peer seen from a"
xl_wait_for 10 xl_data_peer "$XL_NS_B" || xl_fail "no peer seen from b"
LEN=$((256 << 20))
ASAN_NOLEAK=ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

# transfer NAME PORT RUNNER...: xl_bulk both ways, both ends under RUNNER
transfer() {
	local name=$1 port=$2 spid rc=0
	shift 2
	xl_bg ip netns exec "$XL_NS_B" env XENLOOP_RUNDIR="$XL_RUNDIR" \
		"$ASAN_NOLEAK" "$@" timeout 60 "$BULK" -l "$XL_ADDR_B" "$port" \
		-R -n $LEN -s 5 -r 11 -t 50
	spid=$XL_LAST_PID
	ip netns exec "$XL_NS_A" env XENLOOP_RUNDIR="$XL_RUNDIR" \
		"$ASAN_NOLEAK" "$@" timeout 60 "$BULK" -c "$XL_ADDR_B" "$port" \
		-R -n $LEN -s 5 -r 12 -t 50 || rc=1
	wait "$spid" || rc=1
	[ $rc -eq 0 ] || xl_fail "$name: the transfer was not whole"
	xl_check_ring "$name" 1 exact
}
transfer "LD_PRELOAD=libxenloop.so" 5401 \
	env LD_PRELOAD="${PRE}libxenloop.so"
transfer "xenloop run" 5402 env ${ASAN_RT:+LD_PRELOAD="$ASAN_RT"} \
	"$bindir/xenloop" run
xl_log "install: done"
