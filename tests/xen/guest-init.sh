#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of both PV guests of tests/xen. The kernel command line (set by
# dom0-init.sh) says which guest this is: "xlrole=a" (guest 1, offers the
# channels, 198.18.0.1) or "xlrole=b" (guest 2, attaches, 198.18.0.2), and
# "xlopt=-n:BYTES:..." carries options for xen_chan_probe.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in xen-privcmd xenfs xen-evtchn xen-gntdev xen-gntalloc xen-netfront
do
	insmod /lib/modules/$m.ko || echo "XLINFO guest: insmod $m failed"
done
mount -t xenfs xenfs /proc/xen

role=
opts=
for kv in $(cat /proc/cmdline); do
	case $kv in
	xlrole=*) role=${kv#xlrole=} ;;
	xlopt=*) opts=$(echo "${kv#xlopt=}" | tr : ' ') ;;
	esac
done
case $role in
a) me=198.18.0.1 ;;
b) me=198.18.0.2 ;;
*)
	echo "XLTEST guest_role FAIL no xlrole=a|b on the kernel command line"
	poweroff -f
	;;
esac

# netfront finds its device asynchronously
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
ip link set lo up
ip link set eth0 up
ip addr add "$me/24" dev eth0
echo "XLINFO guest $role is up after $(cut -d' ' -f1 /proc/uptime) s"

# shellcheck disable=SC2086 # opts are words on purpose
/xl/xen_chan_probe "$role" -l 198.18.0.1 $opts
echo "XLGUEST $role done rc=$?"
poweroff -f
