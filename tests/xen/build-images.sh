#!/bin/bash
# SPDX-License-Identifier: MIT
# Build what tests/xen/run.sh boots: Xen 4.17 (xen.elf), Debian's kernel
# (vmlinuz), a dom0 initramfs and a guest initramfs, from Debian 12
# packages, into $XL_XEN_WORK (default: $XL_XEN_BUILDDIR/tests/xen/work).
# The guest image carries xen_chan_probe, xen_disc_probe, xen_kmod_probe
# and xenloop.ko (built here against linux-headers-<guest kernel>), and for
# guest-e2e.sh xenloopd, xenloopctl, libxenloop.so and unmodified iperf3,
# socat and sockperf; the dom0 image xenloopd and two minimal vif hotplug
# scripts (bridged and routed); all from the build tree
# $XL_XEN_BUILDDIR (default: the current directory) or Debian, with their
# shared libraries. Installs the packages it needs (as root) when they
# are missing; does nothing more when the images are newer than every
# input, unless called with --force.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
builddir=$(cd "${XL_XEN_BUILDDIR:-.}" && pwd)
work=${XL_XEN_WORK:-$builddir/tests/xen/work}
probe=$builddir/tests/xen/xen_chan_probe
disc_probe=$builddir/tests/xen/xen_disc_probe
kmod_probe=$builddir/tests/xen/xen_kmod_probe
many=$builddir/tests/xen/xen_many
# xenloop.ko's sources (driver/linux) and its ABI header
srcdir=$(cd "$here/../.." && pwd)
kmod_src=$srcdir/driver/linux
kmod_hdr=$srcdir/include/xenloop/xenloop_dev.h
xenloopd=$builddir/daemon/xenloopd
xenloopctl=$builddir/daemon/xenloopctl
preload=$builddir/preload/.libs/libxenloop.so
# guest-e2e.sh's programs, as Debian ships them
e2e_tools=(/usr/bin/iperf3 /usr/bin/socat /usr/bin/sockperf)
packages=(qemu-system-x86 xen-hypervisor-4.17-amd64 xen-utils-4.17
	xenstore-utils linux-image-amd64 busybox-static cpio iproute2 kmod
	iperf3 socat sockperf)
xenbin=/usr/lib/xen-4.17/bin
guest_mods=(xenfs xen-privcmd xen-evtchn xen-gntdev xen-gntalloc xen-netfront)
dom0_mods=(xenfs xen-privcmd xen-evtchn xen-gntdev xen-gntalloc xen-netback
	llc stp bridge)

die() {
	echo "build-images.sh: $*" >&2
	exit 1
}

install_packages() {
	local p missing=()

	for p in "${packages[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "need root to install ${missing[*]}"
	echo "build-images.sh: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
}

# The newest kernel that has both modules and an image in /boot.
kernel_version() {
	local kv found=

	for kv in $(ls /lib/modules | sort -V); do
		[ -e "/boot/vmlinuz-$kv" ] && found=$kv
	done
	[ -n "$found" ] || die "no kernel in /boot with modules in /lib/modules"
	echo "$found"
}

# xenloop.ko for the guests' kernel $kv, built in $work/kmod against
# Debian's linux-headers-$kv (installed here when missing). Without the
# headers (no network, no such package) the guests get no module and the
# kmod_* checks fail; every other check still runs.
build_kmod() {
	local kdir=/lib/modules/$kv/build out=$work/kmod

	rm -f "$work/xenloop.ko"
	if [ ! -e "$kdir/Makefile" ]; then
		[ "$(id -u)" -eq 0 ] || { echo "build-images.sh: no $kdir" \
			"and not root to install linux-headers-$kv" >&2; return 0; }
		echo "build-images.sh: installing linux-headers-$kv"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "linux-headers-$kv" >/dev/null ||
			{ apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "linux-headers-$kv" >/dev/null; } ||
			{ echo "build-images.sh: no linux-headers-$kv: the" \
				"guests get no xenloop.ko" >&2; return 0; }
	fi
	rm -rf "$out"
	mkdir -p "$out/include/xenloop"
	cp "$kmod_src"/Kbuild "$kmod_src"/Makefile "$kmod_src"/*.[ch] "$out/"
	cp "$kmod_hdr" "$out/include/xenloop/"
	if make -C "$kdir" M="$out" modules >"$work/kmod.log" 2>&1; then
		# the debug info is 95% of it
		strip --strip-debug -o "$work/xenloop.ko" "$out/xenloop.ko"
	else
		echo "build-images.sh: xenloop.ko did not build" \
			"(see $work/kmod.log):" >&2
		tail -n 20 "$work/kmod.log" >&2
	fi
}

# Copy programs (or libraries) into root $1, with the libraries ldd names.
copy_bin() {
	local root=$1 b l
	shift
	for b in "$@"; do
		[ -e "$b" ] || die "missing $b"
		mkdir -p "$root$(dirname "$b")"
		cp -L "$b" "$root$b"
		ldd "$b" 2>/dev/null |
			awk '/=>/ { print $3 } /^\t\// { print $1 }' |
			while read -r l; do
				if [ ! -e "$l" ] || [ -e "$root$l" ]; then
					continue
				fi
				mkdir -p "$root$(dirname "$l")"
				cp -L "$l" "$root$l"
			done
	done
}

# Move program $2, which copy_bin put at its build-tree path in root $1,
# to /xl, and remove the build-tree folders it leaves empty (never a
# top-level one: the build tree may be under /tmp).
to_xl() {
	local root=$1 b=$2 d

	mv "$root$b" "$root/xl/${b##*/}"
	d=$(dirname "$b")
	while [ "$(dirname "$d")" != / ] && rmdir "$root$d" 2>/dev/null; do
		d=$(dirname "$d")
	done
}

# A fresh root with busybox and the modules named after it.
base_root() {
	local root=$1 a m
	shift
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,run,tmp,var/run,var/lib} \
		"$root"/{var/log,lib/modules,lib64,usr/bin,usr/sbin,xl}
	cp /bin/busybox "$root/bin/busybox"
	for a in $(/bin/busybox --list); do
		# busybox lists itself; dom0 uses iproute2's ip (bridges)
		[ "$a" = busybox ] && continue
		[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
	done
	for m in "$@"; do
		cp "$(modinfo -n -k "$kv" "$m")" "$root/lib/modules/" ||
			die "no module $m for kernel $kv"
	done
	copy_bin "$root" /usr/lib/x86_64-linux-gnu/libgcc_s.so.1
}

cpio_pack() {
	(cd "$1" && find . | cpio -o -H newc --quiet | gzip -1) >"$2.tmp"
	mv "$2.tmp" "$2"
}

build_guest() {
	local r=$work/domu f

	base_root "$r" "${guest_mods[@]}"
	copy_bin "$r" /usr/bin/xenstore-read /usr/bin/xenstore-write \
		/usr/bin/xenstore-ls /usr/bin/xenstore-rm "$probe" \
		"$disc_probe" "$kmod_probe" "$many" "$xenloopd" "$xenloopctl" \
		"$preload" "${e2e_tools[@]}"
	for f in "$probe" "$disc_probe" "$kmod_probe" "$many" "$xenloopd" \
		"$xenloopctl" "$preload"
	do
		to_xl "$r" "$f"
	done
	[ -e "$work/xenloop.ko" ] && cp "$work/xenloop.ko" "$r/lib/modules/"
	install -m 755 "$here/guest-init.sh" "$r/init"
	install -m 755 "$here/guest-e2e.sh" "$r/xl/guest-e2e.sh"
	cpio_pack "$r" "$work/domu.cpio.gz"
}

build_dom0() {
	local r=$work/dom0

	base_root "$r" "${dom0_mods[@]}"
	rm -f "$r/bin/ip"
	copy_bin "$r" /sbin/ip "$xenbin/oxenstored" "$xenbin/xl" \
		"$xenbin/xen-init-dom0" "$xenbin/xenconsoled" \
		"$xenbin/libxl-save-helper" /usr/bin/xenstore-read \
		/usr/bin/xenstore-write /usr/bin/xenstore-ls \
		/usr/bin/xenstore-chmod /usr/bin/xenstore-watch "$xenloopd"
	to_xl "$r" "$xenloopd"
	mkdir -p "$r"/etc/xen "$r"/var/lib/xen "$r"/var/log/xen/console \
		"$r"/var/run/xen "$r"/var/run/xenstored "$r"/var/lib/xenstored \
		"$r"/guest
	cp /etc/xen/oxenstored.conf "$r/etc/xen/"
	cp "$work/vmlinuz" "$work/domu.cpio.gz" "$r/guest/"
	# the least a vif needs: onto the bridge, up, and say so
	cat >"$r/etc/xen/vif-bridge-min" <<'EOV'
#!/bin/sh
# $1: online|offline|add|remove; environment: vif, XENBUS_PATH
case "$1" in
online|add)
	ip link set "$vif" master xenbr0
	ip link set "$vif" up
	xenstore-write "$XENBUS_PATH/hotplug-status" connected
	;;
esac
exit 0
EOV
	chmod 755 "$r/etc/xen/vif-bridge-min"
	# the least a routed vif needs (as Xen's vif-route, for xenloopd
	# --discovery --routed): dom0's routed address on it, proxy ARP, a
	# host route to each address the toolstack gave the guest (xl's
	# "ip=", the backend's ip node), up, and say so; dom0 forwards
	cat >"$r/etc/xen/vif-route" <<'EOV'
#!/bin/sh
# $1: online|offline|add|remove; environment: vif, XENBUS_PATH
case "$1" in
online|add)
	ip link set "$vif" up
	ip addr add 198.19.1.254/32 dev "$vif"
	echo 1 >"/proc/sys/net/ipv4/conf/$vif/proxy_arp"
	for a in $(xenstore-read "$XENBUS_PATH/ip"); do
		ip route add "$a/32" dev "$vif" src 198.19.1.254
	done
	xenstore-write "$XENBUS_PATH/hotplug-status" connected
	;;
esac
exit 0
EOV
	chmod 755 "$r/etc/xen/vif-route"
	install -m 755 "$here/dom0-init.sh" "$r/init"
	cpio_pack "$r" "$work/dom0.cpio.gz"
}

# Are the images newer than everything they are made of?
up_to_date() {
	local f

	[ -e "$work/dom0.cpio.gz" ] && [ -e "$work/xen.elf" ] || return 1
	for f in "$probe" "$disc_probe" "$kmod_probe" "$many" "$xenloopd" \
		"$xenloopctl" "$preload" "$kmod_src"/* "$kmod_hdr" \
		"$here/guest-init.sh" "$here/guest-e2e.sh" \
		"$here/dom0-init.sh" "${BASH_SOURCE[0]}"; do
		[ "$f" -nt "$work/dom0.cpio.gz" ] && return 1
	done
	return 0
}

for f in "$probe" "$disc_probe" "$kmod_probe" "$many" "$xenloopd" \
	"$xenloopctl" "$preload"; do
	[ -x "$f" ] || die "no $f: build it first (make check-xen does;" \
		"configure must have found the Xen libraries)"
done
install_packages
if [ "${1:-}" != --force ] && up_to_date; then
	exit 0
fi
kv=$(kernel_version)
mkdir -p "$work"
zcat /boot/xen-4.17-amd64.gz >"$work/xen.elf"
cp "/boot/vmlinuz-$kv" "$work/vmlinuz"
build_kmod
build_guest
build_dom0
echo "build-images.sh: images for kernel $kv in $work:" \
	"$(du -h "$work/dom0.cpio.gz" | cut -f1) dom0," \
	"$(du -h "$work/domu.cpio.gz" | cut -f1) guest"
