#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of both PV guests of tests/xen. The kernel command line (set by
# dom0-init.sh) says which guest this is: "xlrole=a" (guest 1, offers the
# channels, 198.18.0.1) or "xlrole=b" (guest 2, attaches, 198.18.0.2),
# "xlopt=-n:BYTES:..." carries options for xen_chan_probe, and
# "xle2e=off" leaves out the e2e step, "xle2e=kmod" all of it but its
# runs through the kernel module. Guests 1 and 2 have a second vif,
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

# xenloop.ko (driver/linux), in guests 1 and 2 after the e2e step: load
# it (kmod_load_*), xen_kmod_probe between the two (kmod_args_*,
# kmod_chan, kmod_unload_*: it removes the module again), then the kernel
# log (kmod_dmesg_*). Every wait in the probe is bounded; these bounds
# are for a bug in it.
kmod_load() {
	if [ ! -e /lib/modules/xenloop.ko ]; then
		echo "XLTEST kmod_load_$role FAIL no xenloop.ko in the image" \
			"(build-images.sh: no linux-headers for the guest kernel?)"
		return 1
	fi
	if ! out=$(insmod /lib/modules/xenloop.ko 2>&1); then
		echo "XLTEST kmod_load_$role FAIL insmod: $out"
		return 1
	fi
	i=0
	while [ ! -c /dev/xenloop ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	mode=$(stat -c '%a %u' /dev/xenloop 2>/dev/null)
	if [ "$mode" != "600 0" ]; then
		echo "XLTEST kmod_load_$role FAIL /dev/xenloop: '${mode:-missing}'"
		return 1
	fi
	echo "XLTEST kmod_load_$role PASS /dev/xenloop, mode 600, root;" \
		"$(dmesg | grep -o 'xenloop: /dev/xenloop.*' | tail -n 1)"
}
kmod_dmesg() {
	bad=$(dmesg | grep -E 'Oops|BUG|WARNING|Call Trace|general protection')
	# a vCPU the loaded host did not run for half a minute ("BUG: soft
	# lockup", in any code) is not ours: then only a report that is not
	# one, or a trace through the module, counts
	if dmesg | grep -q 'BUG: soft lockup'; then
		bad=$( (dmesg | grep -E 'Oops|BUG|WARNING|general protection' |
			grep -v 'BUG: soft lockup'
			dmesg | grep -E 'xlk_|\[xenloop\]') | head -n 5)
		dmesg | grep 'BUG: soft lockup' | head -n 2 |
			sed "s/^/XLINFO guest $role (the host's load): /"
	fi
	# guest 3's daemon (the gntdev/evtchn transport) leaves warnings of
	# its own after a restore (docs/xen.md §4): there only what is ours,
	# or worse than a warning, counts
	[ "$role" = c ] && bad=$(dmesg | grep -E -A 40 'Oops|BUG|WARNING' |
		grep -E 'Oops|BUG|general protection|xlk_|\[xenloop\]' |
		grep -v 'BUG: soft lockup')
	if [ -z "$bad" ]; then
		echo "XLTEST kmod_dmesg_$role PASS no Oops, BUG or WARNING"
	else
		echo "XLTEST kmod_dmesg_$role FAIL $(echo "$bad" | head -n 3 |
			tr '\n' '|')"
		dmesg | tail -n 40 | sed "s/^/XLINFO guest $role dmesg: /"
	fi
}
# Guest 3: a channel of its own asleep through dom0's save and restore of
# its second life (kmod_restore_c, kmod_unload_c, kmod_dmesg_c); its
# first life is destroyed before (the probe then says nothing). Its
# kmod_load_c line is one per life: information only.
if [ "$role" = c ] && kmod_load; then
	(
		timeout -s KILL 600 /xl/xen_kmod_probe c \
			-D "$(xenstore-read domid)" -w 560
		rc=$?
		[ $rc -eq 0 ] && kmod_dmesg
		[ $rc -eq 3 ] || echo "XLINFO guest c: xen_kmod_probe exited with $rc"
	) &
fi

# Guest 3 comes late and is destroyed while it streams (guest-e2e.sh):
# nothing else to do
if [ "$role" = c ]; then
	/xl/guest-e2e.sh c
	# dom0 destroys it: that is the point
	echo "XLINFO guest c: waiting to be destroyed"
	sleep 900
	poweroff -f
fi

# An e2e step, bounded: run_step SECONDS ARGS... runs guest-e2e.sh ARGS in
# a session of its own, and once it ends, by itself or by its bound, stops
# what it left: a xenloopd (TERM first, so that it takes its advertisement
# down), then every process of the session. A step its bound ended (TERM,
# then KILL 30 s later) leaves the helpers it was waiting on, such as the
# message listener on its port, which the next step could not bind.
run_step() {
	bound=$1
	shift
	setsid timeout -s TERM -k 30 "$bound" /xl/guest-e2e.sh "$@" &
	pg=$!
	wait "$pg"
	for p in $(pidof xenloopd); do
		echo "XLINFO guest $role: stopping a xenloopd left" \
			"running (pid $p)"
		kill -TERM "$p"
		sleep 2
		kill -KILL "$p" 2>/dev/null
	done
	kill -KILL -- "-$pg" 2>/dev/null
	return 0
}

# Before the discovery probe: the daemon advertises as the probe does, and
# the probe's checks need the advertisement to themselves. Its runs bound
# their own waits; guest 3's boot, stream, destroy, second boot, save and
# restore (dom0's, on this step's cues) took 420-630 s alone on a host
# loaded to 10-18: this bound is for a bug in it, and TERM lets it stop
# what it started. (busybox's timeout counts one-second sleeps: on a
# starved guest its bound comes late, never early.)
if [ "$e2e" != off ] && [ "$e2e" != kmod ]; then
	run_step 1000 "$role"
fi

# The module's step (above), after the e2e step: the e2e checks run as
# they always did, before the module was ever loaded. The probe meets the
# other guest's within 90 s.
if kmod_load; then
	timeout -s KILL 240 /xl/xen_kmod_probe "$role" \
		-D "$(xenstore-read domid)" -l 198.18.0.1 ||
		echo "XLINFO guest $role: xen_kmod_probe exited with $?"
	lsmod | grep -q '^xenloop ' && rmmod xenloop
	# the e2e step again, its ring runs through the module this time
	# (kmod_e2e_*, kmod_privilege_b); then no channel may be left: the
	# module comes out (kmod_e2e_unload_*)
	if [ "$e2e" != off ]; then
		if out=$(insmod /lib/modules/xenloop.ko 2>&1); then
			run_step 600 "$role" kmod
			if out=$(rmmod xenloop 2>&1); then
				echo "XLTEST kmod_e2e_unload_$role PASS removed" \
					"once the daemon and its connections" \
					"were gone"
			else
				echo "XLTEST kmod_e2e_unload_$role FAIL rmmod:" \
					"$out"
			fi
		else
			echo "XLINFO guest $role: insmod again: $out"
		fi
	fi
	kmod_dmesg
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
