#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of dom0 for tests/xen: starts the toolstack (oxenstored,
# xenconsoled) and this build's "xenloopd --discovery" (its log prefixed
# "[d <dom0 uptime>] "; with --routed), creates
# guest 1 (domu1) and guest 2 (domu2) on a bridge (dom0 has 198.18.0.254
# on it), each with a second, routed vif (198.19.1.1 and .2; dom0 routes,
# 198.19.1.254 on each routed vif: /etc/xen/vif-route of
# build-images.sh), copies their consoles onto its own
# (and so onto the serial log, prefixed "[a] " and "[b] "), destroys guest
# 1 when guest 2 says "XLSYNC destroy-a", creates guest 3 (domu3, "[c] ",
# 198.18.0.3) on "XLSYNC create-c" and destroys it on "XLSYNC destroy-c",
# then does it again on "XLSYNC create-c2", saving and restoring it on
# "XLSYNC save-c2" before "XLSYNC destroy-c2"
# (guest-e2e.sh: a guest that comes late, and one that dies mid-stream),
# checks that the destroyed domain
# is released once guest 2 unmaps its pages, stops xenloopd when guest 2
# says "XLSYNC disc-term" and checks what it leaves, and powers off. Its
# own checks are XLTEST lines like the guests'.
#
# Kernel command line: "xlopt=..." and "xle2e=..." are handed to the
# guests as they are; "xltime=SECONDS" bounds the wait for the guests
# (default 240).
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

up() {
	local u rest

	read -r u rest </proc/uptime
	echo "$u"
}
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
tails=
xld=
finish() {
	sleep 1		# let the console copies catch up
	# shellcheck disable=SC2086 # a list of pids
	kill $tails 2>/dev/null
	# who used dom0's vCPU (processes still running, over 1 s)
	echo "XLINFO dom0 CPU: $(awk '$14 + $15 >= 100 {
		printf "%s %.1f s ", $2, ($14 + $15) / 100
	}' /proc/[0-9]*/stat)"
	echo "XLINFO dom0 done after $(up) s"
	poweroff -f
}

xlopt=
xle2e=
xltime=240
for kv in $(cat /proc/cmdline); do
	case $kv in
	xlopt=*) xlopt=$kv ;;
	xle2e=*) xle2e=$kv ;;
	xltime=*) xltime=${kv#xltime=} ;;
	esac
done

ip link add xenbr0 type bridge
ip link set xenbr0 up
# a neighbour of the guests that is no guest (xen_disc_probe's lookups)
ip addr add 198.18.0.254/24 dev xenbr0
# the guests' routed vifs: dom0 routes between them (vif-route)
echo 1 >/proc/sys/net/ipv4/ip_forward
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

# Discovery runs before the guests exist: both are picked up as new. A
# table that an earlier xenloopd left behind (killed, crashed) for a domain
# long gone must not outlive it: domids come round again.
leftover=/local/domain/0/data/xenloop/peers/77
xenstore-write $leftover "78 00:16:3e:00:00:4e
" && xenstore-chmod $leftover n0 r77
mkfifo /run/xenloopd.log
while read -r l; do echo "[d $(up)] $l"; done </run/xenloopd.log &
tails=$!
# routed mode too: dom0 routes freely between the guests' routed vifs
/xl/xenloopd --discovery --routed -d >/run/xenloopd.log 2>&1 &
xld=$!
# every change to the tables, on dom0's clock
xenstore-watch /local/domain/0/data/xenloop/peers |
	while read -r l; do echo "[w $(up)] $l"; done &
tails="$tails $!"

for g in a b c; do
	n=1
	mem=256
	[ $g = b ] && n=2
	# guests 1 and 2: a second vif, routed, with the address the
	# toolstack gives it (its backend's ip node)
	vif2=", 'ip=198.19.1.$n,script=/etc/xen/vif-route'"
	# guest 3 only runs a daemon and a stream
	[ $g = c ] && n=3 && mem=160 && vif2=
	cat >/etc/xen/domu$n.cfg <<EOC
name = "domu$n"
type = "pv"
kernel = "/guest/vmlinuz"
ramdisk = "/guest/domu.cpio.gz"
extra = "console=hvc0 quiet xlrole=$g $xlopt $xle2e"
vif = [ 'bridge=xenbr0,script=/etc/xen/vif-bridge-min'$vif2 ]
memory = $mem
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
# what the toolstack writes for a routed vif (is there a bridge node?)
echo "XLINFO dom0: guest 1's routed vif, backend/vif/$d1/1:" \
	"$(xenstore-ls /local/domain/0/backend/vif/"$d1"/1 2>&1 |
		tr -s ' \n' ' |')"
if [ -d "/proc/$xld" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$xld/stat"
then
	echo "XLTEST dom0_disc_start PASS xenloopd --discovery (pid $xld)" \
		"runs since before the guests were created"
else
	echo "XLTEST dom0_disc_start FAIL xenloopd --discovery exited"
fi

# The console logs appear once xenconsoled has seen the guests.
log1=/var/log/xen/console/guest-domu1.log
log2=/var/log/xen/console/guest-domu2.log
i=0
while [ ! -e $log1 ] || [ ! -e $log2 ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && break
	sleep 0.1
done
# The console copies hand every XLSYNC and XLGUEST line to the main loop
# through a fifo that this shell holds open both ways (so no open ever
# blocks). A main loop that polled the logs with grep five times a second
# kept dom0's vCPU busy (a fork is dear in a PV domain under TCG), and with
# it oxenstored: every xenstore request of the guests waited.
mkfifo /run/cues
exec 3<>/run/cues
# copy guest $1's console log $2 onto ours, and its cues to the main loop
console_copy() {
	tail -n +1 -f "$2" | while IFS= read -r l; do
		echo "[$1] $l"
		case $l in
		*XLSYNC\ *|*XLGUEST\ *) echo "$1 XL${l#*XL}" >&3 ;;
		esac
	done &
	tails="$tails $!"
}
console_copy a $log1
console_copy b $log2

# Guest 3, on guest 2's cues, lives twice ($1: "" then "2", in the names
# of the cues and checks). First: created after every daemon started (it
# must be discovered), and destroyed while it streams to guest 2 on a ring
# (its connection there must end, not hang: a dead domain says nothing).
# Second: created again, saved and restored (save_guest3), destroyed.
d3=
d3_gone=
d3_life=
create_guest3() {
	local out t i=0 log3=/var/log/xen/console/guest-domu3.log

	# one life at a time, each once
	[ -z "$d3" ] || [ -n "$d3_gone" ] || return
	[ "$1" != "$d3_life" ] || [ -z "$d3" ] || return
	d3_life=$1
	d3=creating
	d3_gone=
	d3_saved=
	t=$(up)
	if ! out=$(xl create /etc/xen/domu3.cfg 2>&1); then
		echo "XLTEST dom0_create_c$1 FAIL xl create domu3: $(echo "$out" |
			tail -n 3 | tr '\n' '|')"
		return
	fi
	d3=$(xl domid domu3)
	echo "XLTEST dom0_create_c$1 PASS guest 3 is domain $d3" \
		"($(since "$t") s)"
	while [ ! -e $log3 ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	# its second life writes on in the same log
	[ -n "$1" ] || console_copy c $log3
}

# Guest 3, on guest 2's cue, while it streams to guest 2 on a ring: saved
# and restored (the events of a live migration: the guest's processes carry
# on in a new domain). Its old connection must end, and the restored guest
# be discovered and linked again (guest-e2e.sh b_saved, c_restored).
d3_saved=
save_guest3() {
	local t rc out res=PASS old

	[ -n "$d3" ] && [ -z "$d3_saved" ] && [ -z "$d3_gone" ] || return
	d3_saved=yes
	t=$(up)
	out=$(xl save domu3 /run/domu3.save 2>&1)
	rc=$?
	[ $rc -eq 0 ] || res=FAIL
	echo "XLTEST dom0_save_c$d3_life $res xl save of domain $d3 returned $rc" \
		"after $(since "$t") s $([ $rc -eq 0 ] ||
			echo "$out" | tail -n 3 | tr '\n' '|')"
	[ $rc -eq 0 ] || return
	t=$(up)
	out=$(xl restore /run/domu3.save 2>&1)
	rc=$?
	rm -f /run/domu3.save
	old=$d3
	d3=$(xl domid domu3 2>/dev/null)
	res=PASS
	[ $rc -eq 0 ] && [ -n "$d3" ] && [ "$d3" != "$old" ] || res=FAIL
	echo "XLTEST dom0_restore_c$d3_life $res xl restore returned $rc after" \
		"$(since "$t") s: guest 3 was domain $old, is ${d3:-no domain}" \
		"$([ $rc -eq 0 ] || echo "$out" | tail -n 3 | tr '\n' '|')"
	# never created again by a cue taken from the log
	d3=${d3:-lost}
}

destroy_guest3() {
	local t rc res=PASS

	[ -n "$d3" ] && [ -z "$d3_gone" ] || return
	d3_gone=yes
	t=$(up)
	xl destroy domu3
	rc=$?
	[ $rc -eq 0 ] || res=FAIL
	echo "XLTEST dom0_destroy_c$d3_life $res xl destroy domu3 returned $rc after" \
		"$(since "$t") s"
}

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

# The tables of a listing of dom0's but the planted leftover.
not_leftover() { grep -v "^${leftover##*/} ="; }

# Guest 2 is done with guest 1: what xenloopd publishes now (guest 2's
# table alone: guest 1's went with it), then SIGTERM, after which it must
# have taken every table down.
term_discovery() {
	local cue="/local/domain/$d2/data/xlprobe" rc res=PASS t wd
	local tabs=/local/domain/0/data/xenloop/peers before after

	# a new table node inherits these until xenloopd sets its own
	echo "XLINFO dom0: permissions above the tables:" \
		"$(xenstore-ls -p /local/domain/0/data 2>&1 | head -n 2 |
			tr -s ' \n' ' |')"
	res=FAIL
	xenstore-read $leftover >/dev/null 2>&1 || res=PASS
	echo "XLTEST dom0_disc_leftover $res a table left by an earlier" \
		"xenloopd for domain ${leftover##*/} (no such domain):" \
		"$(xenstore-read $leftover 2>&1 | tr '\n' '|')"
	res=PASS
	before=$(xenstore-ls -p $tabs 2>&1 | not_leftover)
	case $before in
	"$d2 = \"\""*"(n0,r$d2)") ;;
	*) res=FAIL ;;
	esac
	[ "$(echo "$before" | grep -c .)" -eq 1 ] || res=FAIL
	echo "XLTEST dom0_disc_tables $res $tabs, want only guest 2's," \
		"empty, n0,r$d2: $(echo "$before" | tr -s ' \n' ' |')"
	xenstore-write "$cue/term-begin" 1
	t=$(up)
	kill -TERM "$xld"
	(sleep 10; kill -KILL "$xld") &
	wd=$!
	wait "$xld"
	rc=$?
	kill $wd 2>/dev/null
	after=$(xenstore-ls $tabs 2>&1 | not_leftover)
	res=PASS
	[ $rc -eq 0 ] && ! echo "$after" | grep -q '^[0-9]* =' || res=FAIL
	echo "XLTEST dom0_disc_term $res xenloopd exited with $rc" \
		"$(since "$t") s after SIGTERM; tables left:" \
		"${after:-none}"
	xld=
}

# Does guest 2's log hold cue "XLSYNC $1" (not $1 with a life number)?
has_cue() { grep "XLSYNC $1" $log2 | grep -qv "XLSYNC $1[0-9]"; }

# Sets g and ev to the cue guest 2's log holds for the current state.
lost_cue() {
	local c
	# guest 3's cues, in any state
	local l="$d3_life"
	if [ -z "$d3" ] && has_cue create-c; then
		g=b
		ev="XLSYNC create-c"
	elif [ -n "$d3_gone" ] && [ -z "$l" ] && has_cue create-c2; then
		g=b
		ev="XLSYNC create-c2"
	elif [ -n "$d3" ] && [ -z "$d3_gone" ] && has_cue "destroy-c$l"; then
		g=b
		ev="XLSYNC destroy-c$l"
	elif [ -n "$d3" ] && [ -z "$d3_saved" ] && has_cue "save-c$l"; then
		g=b
		ev="XLSYNC save-c$l"
	fi
	if [ -n "$g" ]; then
		echo "XLINFO dom0: cue \"$ev\" taken from the log"
		return
	fi
	for c in "XLSYNC destroy-a:destroy" "XLSYNC released:release" \
		"XLSYNC disc-term:*" "XLGUEST b done:*"; do
		case $state in
		${c##*:}) ;;
		*) continue ;;
		esac
		[ "${c%:*}" != "XLSYNC disc-term" ] || [ -n "$xld" ] || continue
		if grep -q "${c%:*}" $log2; then
			g=b
			ev=${c%:*}
			echo "XLINFO dom0: cue \"$ev\" taken from the log"
			return
		fi
	done
}

state=destroy
read -r u rest </proc/uptime
end=$((${u%.*} + xltime))
while :; do
	read -r u rest </proc/uptime
	if [ "${u%.*}" -ge $end ]; then
		echo "XLINFO dom0 gave up waiting for the guests after" \
			"$xltime s"
		break
	fi
	g=
	ev=
	# shellcheck disable=SC3045 # busybox ash has read -t
	read -t 1 -r g ev <&3
	# Once, under heavy load, the fifo lost guest 2's "destroy-a": every
	# 5 s without a cue, the console logs say what the fifo may have lost
	# (the next cue the current state waits for).
	if [ -z "$g" ] && [ $((${u%.*} % 5)) -eq 0 ]; then
		lost_cue
	fi
	case "$g:$state:$ev" in
	b:*:"XLSYNC create-c2"*)
		create_guest3 2
		;;
	b:*:"XLSYNC create-c"*)
		create_guest3
		;;
	b:*:"XLSYNC save-c2"*)
		save_guest3
		;;
	b:*:"XLSYNC destroy-c2"*)
		destroy_guest3
		;;
	b:*:"XLSYNC destroy-c"*)
		destroy_guest3
		;;
	b:destroy:"XLSYNC destroy-a"*)
		destroy_guest1
		state=release
		;;
	b:release:"XLSYNC released"*)
		await_release
		state=finished
		;;
	b:*:"XLSYNC disc-term"*)
		[ -z "$xld" ] || term_discovery
		;;
	b:*:"XLGUEST b done"*)
		break
		;;
	a:destroy:"XLGUEST a done"*)
		# guest 1 never finishes on its own: if it did, it failed,
		# and guest 2 cannot go on without it
		sleep 5
		break
		;;
	esac
done
[ -z "$xld" ] || term_discovery
xl list | sed 's/^/XLINFO dom0 xl list: /'
finish
