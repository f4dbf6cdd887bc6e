#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of dom0 for tests/xen: starts the toolstack (oxenstored,
# xenconsoled), creates guest 1 (domu1) and guest 2 (domu2) on a bridge,
# copies their consoles onto its own (and so onto the serial log, prefixed
# "[a] " and "[b] "), destroys guest 1 when guest 2 says "XLSYNC destroy-a",
# checks that the destroyed domain is released once guest 2 unmaps its
# pages, and powers off. Its own checks are XLTEST lines like the guests'.
#
# Kernel command line: "xlopt=..." is handed to the guests as it is;
# "xltime=SECONDS" bounds the wait for the guests (default 240).
# busybox ash: "local" is there
# shellcheck disable=SC3043
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/lib/xen-4.17/bin
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
for m in xen-privcmd xenfs xen-evtchn xen-gntdev xen-gntalloc xen-netback \
	llc stp bridge; do
	insmod /lib/modules/$m.ko || echo "XLINFO dom0: insmod $m failed"
done
mount -t xenfs xenfs /proc/xen

up() { cut -d' ' -f1 /proc/uptime; }
# seconds since $1 (an up value), to a tenth
since() { awk -v a="$1" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }'; }
# Xen's own word on domain $1 ("refcnt=.. dying=.. pause_count=..") or
# "gone": xl list leaves out a dying domain.
xen_dom() {
	xl dmesg -c >/dev/null
	xl debug-keys q
	xl dmesg -c | awk -v d="$1:" '
		/General information for domain/ { cur = ($NF == d) }
		cur && /refcnt=/ {
			sub(/^.*refcnt/, "refcnt")
			print
			f = 1
			exit
		}
		END { if (!f) print "gone" }'
}
finish() {
	sleep 1		# let the console copies catch up
	# shellcheck disable=SC2086 # a list of pids
	kill $tails 2>/dev/null
	echo "XLINFO dom0 done after $(up) s"
	poweroff -f
}

xlopt=
xltime=240
for kv in $(cat /proc/cmdline); do
	case $kv in
	xlopt=*) xlopt=$kv ;;
	xltime=*) xltime=${kv#xltime=} ;;
	esac
done

ip link add xenbr0 type bridge
ip link set xenbr0 up
echo "XLINFO dom0 is up after $(up) s"
oxenstored --no-fork >/var/log/xen/oxenstored.log 2>&1 &
i=0
until xenstore-write /xltest ok 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		echo "XLTEST dom0_create FAIL oxenstored did not come up"
		finish
	fi
	sleep 0.1
done
xen-init-dom0 >/dev/null || echo "XLINFO dom0: xen-init-dom0 failed"
xenconsoled --log=guest --log-dir=/var/log/xen/console &

for g in a b; do
	n=1
	[ $g = b ] && n=2
	cat >/etc/xen/domu$n.cfg <<EOC
name = "domu$n"
type = "pv"
kernel = "/guest/vmlinuz"
ramdisk = "/guest/domu.cpio.gz"
extra = "console=hvc0 quiet xlrole=$g $xlopt"
vif = [ 'bridge=xenbr0,script=/etc/xen/vif-bridge-min' ]
memory = 256
vcpus = 1
on_poweroff = "destroy"
on_crash = "destroy"
EOC
done
t0=$(up)
ok=true
for n in 1 2; do
	out=$(xl create /etc/xen/domu$n.cfg 2>&1) || {
		ok=false
		echo "$out" | tail -n 5
	}
done
if ! $ok; then
	echo "XLTEST dom0_create FAIL xl create failed"
	finish
fi
d1=$(xl domid domu1)
d2=$(xl domid domu2)
echo "XLTEST dom0_create PASS guests 1 and 2 are domains $d1 and $d2" \
	"($(since "$t0") s)"

# The console logs appear once xenconsoled has seen the guests.
tails=
log1=/var/log/xen/console/guest-domu1.log
log2=/var/log/xen/console/guest-domu2.log
i=0
while [ ! -e $log1 ] || [ ! -e $log2 ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && break
	sleep 0.1
done
for g in a b; do
	f=$log1
	[ $g = b ] && f=$log2
	tail -n +1 -f $f | sed "s/^/[$g] /" &
	tails="$tails $!"
done

# Guest 2 is blocked on a channel with guest 1: destroy guest 1, telling
# guest 2 through xenstore when "xl destroy" begins and returns.
destroy_guest1() {
	local cue="/local/domain/$d2/data/xlprobe" t rc res=PASS

	xenstore-write "$cue/destroy-begin" 1
	t=$(up)
	xl destroy domu1
	rc=$?
	xenstore-write "$cue/destroy-end" "$rc"
	[ $rc -eq 0 ] || res=FAIL
	echo "XLTEST dom0_destroy $res xl destroy domu1 returned $rc" \
		"after $(since "$t") s"
	echo "XLINFO dom0: Xen on domain $d1 after xl destroy, while guest 2" \
		"maps its pages: $(xen_dom "$d1")"
}

# Guest 2 has unmapped guest 1's pages: Xen must now let the domain go.
await_release() {
	local t st

	t=$(up)
	st=$(xen_dom "$d1")
	while [ "$st" != gone ] && [ "$(since "$t" | cut -d. -f1)" -lt 10 ]
	do
		sleep 0.5
		st=$(xen_dom "$d1")
	done
	if [ "$st" = gone ]; then
		echo "XLTEST dom0_released PASS domain $d1 gone" \
			"$(since "$t") s after guest 2 unmapped its pages"
	else
		echo "XLTEST dom0_released FAIL domain $d1 still there" \
			"$(since "$t") s after guest 2 unmapped its pages: $st"
	fi
}

state=destroy
end=$(($(date +%s) + xltime))
while [ "$(date +%s)" -lt "$end" ]; do
	if [ $state = destroy ] && grep -q "XLSYNC destroy-a" $log2; then
		destroy_guest1
		state=release
	fi
	if [ $state = release ] && grep -q "XLSYNC released" $log2; then
		await_release
		state=finished
	fi
	grep -q "XLGUEST b done" $log2 && break
	# guest 1 never finishes on its own: if it did, it failed, and
	# guest 2 cannot go on without it
	if [ $state = destroy ] && grep -q "XLGUEST a done" $log1; then
		sleep 5
		break
	fi
	sleep 0.2
done
if [ "$(date +%s)" -ge "$end" ]; then
	echo "XLINFO dom0 gave up waiting for the guests after $xltime s"
fi
xl list | sed 's/^/XLINFO dom0 xl list: /'
finish
