#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of both PV guests of tests/xen. The kernel command line (set by
# dom0-init.sh) says which guest this is: "xlrole=a" (guest 1, offers the
# channels, 198.18.0.1) or "xlrole=b" (guest 2, attaches, 198.18.0.2),
# "xlopt=-n:BYTES:..." carries options for xen_chan_probe, and
# "xle2e=off" leaves out the e2e step. Guests 1 and 2 have a second vif,
# routed by dom0 (eth1: 198.19.1.1 / .2, via dom0's 198.19.1.254).
#
# The e2e step (guest-e2e.sh: unmodified programs over the guests' own
# xenloopd --xen) goes first, in step with the other guest, and leaves no
# daemon and no advertisement behind. Then xen_disc_probe (discovery, as
# a guest's xenloopd runs it), in step with the other guest, which stays
# in the background advertising while xen_chan_probe runs; guest 2's then
# watches guest 1 being destroyed and dom0's xenloopd being stopped, and
# this script waits for it before saying it is done.
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
e2e=on
for kv in $(cat /proc/cmdline); do
	case $kv in
	xlrole=*) role=${kv#xlrole=} ;;
	xlopt=*) opts=$(echo "${kv#xlopt=}" | tr : ' ') ;;
	xle2e=*) e2e=${kv#xle2e=} ;;
	esac
done
case $role in
a) me=198.18.0.1 ;;
b) me=198.18.0.2 ;;
c) me=198.18.0.3 ;;
*)
	echo "XLTEST guest_role FAIL no xlrole=a|b|c on the kernel command line"
	poweroff -f
	;;
esac

# netfront finds its devices asynchronously
wait_dev() {
	i=0
	while [ ! -e "/sys/class/net/$1" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}
wait_dev eth0
ip link set lo up
ip link set eth0 up
ip addr add "$me/24" dev eth0
# the routed vif (not guest 3's): its own /32, and the rest of 198.19.1/24
# through dom0's end of it, which routes (and answers ARP for its address)
if [ "$role" != c ]; then
	rme=198.19.1.$([ "$role" = a ] && echo 1 || echo 2)
	wait_dev eth1
	ip link set eth1 up
	ip addr add "$rme/32" dev eth1
	ip route add 198.19.1.254/32 dev eth1 src "$rme"
	ip route add 198.19.1.0/24 via 198.19.1.254 dev eth1 src "$rme" ||
		echo "XLINFO guest $role: no route to 198.19.1.0/24 on eth1"
fi
echo "XLINFO guest $role is up after $(cut -d' ' -f1 /proc/uptime) s"

mkdir -p /tmp
# Guest 3 comes late and is destroyed while it streams (guest-e2e.sh):
# nothing else to do
if [ "$role" = c ]; then
	/xl/guest-e2e.sh c
	# dom0 destroys it: that is the point
	echo "XLINFO guest c: waiting to be destroyed"
	sleep 900
	poweroff -f
fi

# Before the discovery probe: the daemon advertises as the probe does, and
# the probe's checks need the advertisement to themselves. It takes about
# a minute and bounds its own waits; this bound is for a bug in it, and
# TERM lets it stop what it started.
if [ "$e2e" != off ]; then
	timeout -s TERM -k 30 420 /xl/guest-e2e.sh "$role"
fi

ready=/tmp/xl-disc-ready
chan_done=/tmp/xl-chan-done
# the subshell marks "ready" however the probe ends
(
	# -R: dom0 runs xenloopd --discovery --routed (dom0-init.sh)
	/xl/xen_disc_probe "$role" -r $ready -c $chan_done -R
	echo "XLINFO guest $role: xen_disc_probe exited with $?"
	touch $ready
) &
disc=$!
# a slow poll: a fork is dear in a PV guest, and the vCPUs share two CPUs
i=0
while [ ! -e $ready ] && [ $i -lt 600 ]; do
	sleep 0.5
	i=$((i + 1))
done

# shellcheck disable=SC2086 # opts are words on purpose
/xl/xen_chan_probe "$role" -l 198.18.0.1 $opts
rc=$?
touch $chan_done
# guest 1 is normally destroyed before this; guest 2's discovery probe
# has two more checks to make (its own waits are bounded)
[ "$role" = b ] && wait $disc
echo "XLGUEST $role done rc=$rc"
poweroff -f
