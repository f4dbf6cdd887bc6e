#!/bin/sh
# SPDX-License-Identifier: MIT
# The e2e step of tests/xen: unmodified programs (iperf3, socat, sockperf)
# between guest 1 ("a", client, 198.18.0.1) and guest 2 ("b", server,
# 198.18.0.2), each run once over plain TCP (netfront -> dom0's bridge ->
# netback) and once under LD_PRELOAD=libxenloop.so with this build's
# "xenloopd --xen" in both guests. guest-init.sh runs it in both guests,
# as "guest-e2e.sh a|b", before the discovery probe. Checks (XLTEST lines,
# as the probes'):
#
#	e2e_daemon_a/_b		xenloopd --xen starts, xenloopctl answers
#				and lists the other guest, link up
#	e2e_iperf3_tcp/_ring	iperf3 -c, IPERF_S seconds; Gbit/s
#	e2e_transfer_tcp/_ring	XFER_MIB MiB of random data by socat -u,
#				byte-exact (md5 and size at both ends); Mbit/s
#	e2e_routed_tcp/_ring	the same, ROUTED_MIB MiB of it, to guest 2's
#				routed address (198.19.1.2, eth1: dom0
#				routes it), and over dom0's --routed tables
#				(xenloopctl must list 198.19.1.2 as guest 2's)
#	e2e_pingpong_tcp/_ring	sockperf ping-pong, PP_S seconds; latency
#	e2e_*_ring_srv		guest 2's own view of each ring run
#	e2e_newguest_b ...	guest 3 ("c", 198.18.0.3), which dom0
#				creates, destroys, creates again, saves and
#				restores on guest 2's cues: b_newguest,
#				b_saved, c_stream (tests/xen/README.md)
#
# The client's checks are guest 1's. A ring run passes only if the program
# did its job and the guest's own xenloopd accounts for at least 99% of the
# payload of that run after each connection's first bytes (tcp_before_ring)
# as ring bytes, and half of all of it: the daemon's totals of ended
# connections before and after the run, as tests/e2e/data-lib.sh's
# xl_check_ring reads them (xenloopctl status --json, docs/protocol.md §7).
# A guest without a daemon (this xenloopd has no --xen mode, or it did not
# start) still runs every program, the shimmed ones too (the library must
# then leave them on TCP, and must not hang), and fails its ring checks.
#
# "guest-e2e.sh a|b kmod" is the same step through the kernel module
# (guest-init.sh runs it in guests 1 and 2 once xenloop.ko is loaded in
# both): the ring runs only, every check named kmod_e2e_* (the daemons'
# xenloopd must say that it uses /dev/xenloop), and on guest 2 a run whose
# server's fds and mappings are looked at while its connection is on a
# channel of the module (kmod_privilege_b, xen_kmod_probe p).
#
# How this works
#
# The guests keep in step through one-line messages over plain TCP (socat,
# never under the shim): guest 2 listens on CTL_B for guest 1's, guest 1 on
# CTL_A for guest 2's. After "hello" both ways, every run is
#	b: server up -> "ready RUN";  a: client -> "done RUN";
#	b: its checks -> "result RUN" (what a needs: exit status, md5, ...)
# and at the end "bye" both ways, once each guest has stopped its daemon
# and dom0 has taken its table down. Every wait is bounded; a message that
# does not come in time leaves the guests out of step, and every check not
# yet reported is then reported FAIL at once, with no more waiting.
#
# Why first: xenloopd --xen advertises under /local/domain/<id>/data/xenloop
# exactly as xen_disc_probe does. The probe's checks need that node to
# themselves (it stops bumping "alive" and removes the node on purpose),
# and once they are done it keeps advertising while guest 2's watches
# that guest 1 never leaves the table; a daemon withdrawing on its way out
# would make it leave. So the daemon runs here, alone, and when it is
# stopped whatever it left is removed and both guests wait until dom0 has
# taken their tables down: the discovery probe then starts as on a fresh
# boot.
# busybox ash: "local" is there
# shellcheck disable=SC3043
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu

XL=/xl
PRELOAD=$XL/libxenloop.so
RUNDIR=/run/xenloop
DAEMON_ARGS="--xen -d -r $RUNDIR"
T=/tmp/e2e		# prefix of every file of this step
IPERF_S=5	# as tests/e2e/iperf3.sh: bytes before the channel comes go by
		# TCP, and must stay under 1%
XFER_MIB=32
XFER_PAUSE_S=1	# between socat's connect and its first byte
ROUTED_MIB=4	# the routed transfer: the head of the same data
PP_S=5
MEET_S=150	# the other guest may boot, and start its daemon, later
NEWG_S=90	# guest 3 boots, is discovered, links and connects
NEWG_PORT=13001	# its stream to guest 2
SERVE_C_PORT=13002	# guest 2's stream to guest 3's server
GONE_S=40	# guest 2's end of that stream, once guest 3 is destroyed
		# (or saved)
RESTORE_S=60	# guest 3 is saved and restored, relinks and streams again
MSG_S=90	# one run of the other guest, TCG-slow on a busy host
DAEMON_S=20	# xenloopd --xen answers xenloopctl
PEER_S=20	# ... and lists the other guest
CLOSED_S=10	# the daemon has seen a run's connections end
TABLE_S=15	# dom0 takes a guest's table down (stale: about 5 s)
CTL_A=7101	# messages to guest 1
CTL_B=7100	# messages to guest 2

role=$1
kmod=false
[ "${2:-}" = kmod ] && kmod=true
$kmod && T=/tmp/e2ek
# the stock devices' step stays on them, in guest 3 too, which has the
# module loaded for its own probe (guest-init.sh)
if ! $kmod; then
	echo "xen_kmod = no" >$T.conf
else
	# 16 KiB a direction: 5 pages a side, so that MANY_N connections
	# fit the module's budget (16384 pages) and Xen's grant table
	echo "ring_order = 14" >$T.conf
fi
DAEMON_ARGS="$DAEMON_ARGS -f $T.conf"
# a process per guest holds MANY_N connections, and each daemon their
# liveness ends
$kmod && ulimit -n 8192
# the module's step repeats the transfer with less: byte-exact all the
# same, in a third of the time on a loaded host (16 KiB rings, PEEK)
$kmod && XFER_MIB=8
MANY_N=500	# kmod_many's connections
MANY_PAGES=10	# what each takes of the module's budget
case $role in
a)
	me=198.18.0.1 peer=198.18.0.2 in_port=$CTL_A out_port=$CTL_B
	# the routed vifs' (eth1) addresses
	me_routed=198.19.1.1 peer_routed=198.19.1.2
	todo="e2e_daemon_a e2e_iperf3_tcp e2e_iperf3_ring e2e_transfer_tcp
		e2e_transfer_ring e2e_routed_tcp e2e_routed_ring
		e2e_pingpong_tcp e2e_pingpong_ring"
	;;
b)
	me=198.18.0.2 peer=198.18.0.1 in_port=$CTL_B out_port=$CTL_A
	me_routed=198.19.1.2 peer_routed=198.19.1.1
	todo="e2e_daemon_b e2e_iperf3_ring_srv e2e_transfer_ring_srv
		e2e_routed_ring_srv e2e_pingpong_ring_srv e2e_newguest_b
		e2e_privilege_b e2e_saved_b e2e_restored_b e2e_destroy_b"
	;;
c)
	# guest 3: only a daemon and one stream to guest 2 (see b_newguest)
	me=198.18.0.3 peer=198.18.0.2 in_port= out_port=
	todo=
	;;
*)
	echo "usage: guest-e2e.sh a|b|c [kmod]" >&2
	exit 2
	;;
esac
if $kmod; then
	case $role in
	a) todo="e2e_daemon_a e2e_iperf3_ring e2e_transfer_ring
		e2e_routed_ring e2e_pingpong_ring" ;;
	b) todo="e2e_daemon_b e2e_iperf3_ring_srv e2e_transfer_ring_srv
		e2e_routed_ring_srv e2e_pingpong_ring_srv e2e_privilege_b
		many" ;;
	*) echo "guest-e2e.sh: kmod is for guests 1 and 2" >&2; exit 2 ;;
	esac
fi
# one line, single spaces: check() strikes names off by " NAME "
# shellcheck disable=SC2086,SC2116
todo=$(echo $todo)
lost=		# why the guests are out of step, once they are
dpid=		# xenloopd --xen, while it runs
nodaemon=	# why there is none
pids=		# every other process started in the background

# ---- output and time ----

say() { echo "XLINFO e2e $role: $*"; }

# check NAME PASS|FAIL DETAIL...: report once, and strike it off the list
check() {
	local n="$1" t
	shift
	if $kmod; then
		case $n in
		e2e_privilege_b) echo "XLTEST kmod_privilege_b $*" ;;
		*) echo "XLTEST kmod_$n $*" ;;
		esac
	else
		echo "XLTEST $n $*"
	fi
	t=" $todo "
	case $t in
	*" $n "*) todo="${t%% "$n" *} ${t#* "$n" }" ;;
	esac
}

# pf true|false...: PASS if every one is true, else FAIL
pf() {
	local c
	for c in "$@"; do
		$c || {
			echo FAIL
			return
		}
	done
	echo PASS
}

up() {
	local u
	read -r u _ </proc/uptime
	echo "$u"
}
now_s() {
	local u
	u=$(up)
	echo "${u%.*}"
}
# seconds since $1 (an up value), to a tenth
since() { awk -v a="$1" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }'; }

# the last lines of file $2, one XLINFO each, prefixed with $1
show() {
	[ -s "$2" ] || return 0
	tail -n "${3:-12}" "$2" | while IFS= read -r l; do say "$1: $l"; done
}

mem_avail() {
	awk '/^MemAvailable/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo
}

# ---- processes ----

# Start "$@" in the background (redirect at the call), pid in $last.
start_bg() {
	"$@" &
	last=$!
	pids="$pids $last"
}

# Is process $1 (a child of ours) running? A zombie is not.
running() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	read -r st 2>/dev/null <"/proc/$1/stat" || return 1
	case $st in
	*") Z "* | *") X "*) return 1 ;;
	esac
	return 0
}

# Wait up to $2 s for process $1 to end, then SIGTERM it, then (2 s on)
# SIGKILL; reap it: its exit status in $rc, "yes" in $was_running if it
# had to be signalled.
reap() {
	local pid="$1" n=$(($2 * 5))

	was_running=no
	while running "$pid" && [ $n -gt 0 ]; do
		sleep 0.2
		n=$((n - 1))
	done
	if running "$pid"; then
		was_running=yes
		kill -TERM "$pid" 2>/dev/null
		n=10
		while running "$pid" && [ $n -gt 0 ]; do
			sleep 0.2
			n=$((n - 1))
		done
		running "$pid" && kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid"
	rc=$?
}

# Is something listening on TCP port $1 here?
listening() { netstat -ltn 2>/dev/null | grep -q "[:.]$1 .*LISTEN"; }

wait_listen() {
	local n=50
	until listening "$1"; do
		[ $n -gt 0 ] || return 1
		n=$((n - 1))
		sleep 0.2
	done
}

# The prefix of a run's commands: the shim for "ring", nothing for "tcp".
# The library's warnings go to a file that is shown at the end.
pre() {
	[ "$1" = ring ] || return 0
	echo "env LD_PRELOAD=$PRELOAD XENLOOP_RUNDIR=$RUNDIR" \
		"XENLOOP_REGISTER_DELAY_US=0" \
		"XENLOOP_LOG_LEVEL=warn XENLOOP_LOG_FILE=$T.shim.log"
}

# ---- messages between the guests ----

# msg_send WORDS...: one line to the other guest, trying until it listens
# (at most $MSG_S s, or $1 s with -t SECONDS first).
msg_send() {
	local secs="$MSG_S" end
	if [ "$1" = -t ]; then
		secs=$2
		shift 2
	fi
	[ -z "$lost" ] || return 1
	end=$(($(now_s) + secs))
	until echo "$*" | timeout 10 socat -u STDIN \
		"TCP:$peer:$out_port,connect-timeout=2" 2>/dev/null; do
		if [ "$(now_s)" -ge $end ]; then
			lost="the other guest took no \"$*\" in $secs s"
			say "out of step: $lost"
			return 1
		fi
		sleep 0.3
	done
}

# msg_recv WANT [SECONDS]: wait for the line that starts with WANT; what
# follows it in $msg.
msg_recv() {
	local want="$1" secs="${2:-$MSG_S}" line=
	[ -z "$lost" ] || return 1
	rm -f $T.msg
	timeout "$secs" socat -u "TCP-LISTEN:$in_port,bind=$me,reuseaddr" \
		"CREATE:$T.msg" 2>/dev/null
	[ -e $T.msg ] && read -r line <$T.msg
	case $line in
	"$want" | "$want "*)
		msg=${line#"$want"}
		msg=${msg# }
		return 0
		;;
	esac
	lost="waited $secs s for \"$want\", got \"$line\""
	say "out of step: $lost"
	return 1
}

# ---- the daemon ----

ctl() {
	XENLOOP_RUNDIR=$RUNDIR timeout 10 $XL/xenloopctl status --json 2>&1
}
# the status on one line, for an XLINFO
ctl_line() { ctl | tr -s ' \n' '  '; }
ctl_flat() { ctl | tr -d ' \t\n'; }

# "connections ring_tx ring_rx tcp_tx tcp_rx" of the daemon's totals (ended
# connections), or nothing
totals() {
	[ -n "$dpid" ] || return 0
	ctl_flat | sed -n 's/.*"totals":{\([^}]*\)}.*/\1/p' | awk -F, '{
		for (i = 1; i <= NF; i++) {
			split($i, kv, ":")
			gsub(/"/, "", kv[1])
			v[kv[1]] = kv[2]
		}
		printf "%.0f %.0f %.0f %.0f %.0f %.0f\n", v["connections"],
		    v["ring_tx"], v["ring_rx"], v["tcp_tx"], v["tcp_rx"],
		    v["tcp_before_ring"]
	}'
}

no_conns() { ctl_flat | grep -q '"connections":\[\]'; }

# Does the daemon list the other guest with its control link up? Rings
# need the link (docs/xen.md §2); xenloopctl shows a peer guest as
# {"name": "domain N", "domid": N, "link": "down|offered|up", ...}.
# Without the other's domid, any peer will do.
peer_up() {
	if [ -z "$peer_domid" ]; then
		ctl_flat | grep -q '"peers":\[{'
		return
	fi
	# no object nests in a peer's: split at "}", find the one with both
	ctl_flat | awk -v d="\"domid\":$peer_domid" 'BEGIN { RS = "}" }
		{ tail = substr($0, length($0) - length(d) + 1) }
		(index($0, d ",") || tail == d) &&
		    index($0, "\"link\":\"up\"") { f = 1 }
		END { exit !f }'
}

# ring_check MIN_CONNS BEFORE: did this guest's daemon carry the run that
# began at totals BEFORE on its rings? ring_ok true/false, ring_txt.
ring_check() {
	local min="$1" before="$2" after open='' res
	ring_ok=false
	if [ -z "$dpid" ]; then
		ring_txt="no xenloopd --xen here: $nodaemon"
		return
	fi
	# the totals count a connection once it has ended
	local n=$((CLOSED_S * 4))
	until no_conns; do
		if [ $n -le 0 ]; then
			open=", connections still open after $CLOSED_S s"
			break
		fi
		n=$((n - 1))
		sleep 0.25
	done
	after=$(totals)
	if [ -z "$before" ] || [ -z "$after" ]; then
		ring_txt="xenloopctl status gave no totals ($(ctl_line))"
		return
	fi
	res=$(awk -v b="$before" -v a="$after" -v min="$min" 'BEGIN {
		split(b, x, " ")
		split(a, y, " ")
		c = y[1] - x[1]
		ring = y[2] - x[2] + y[3] - x[3]
		tcp = y[4] - x[4] + y[5] - x[5]
		first = y[6] - x[6]
		share = 0
		if (ring + tcp > 0)
			share = ring / (ring + tcp)
		later = share
		if (ring + tcp - first > 0)
			later = ring / (ring + tcp - first)
		# after the first bytes of each connection (TCP while its channel
		# is made: seconds of payload under TCG), all on the ring
		v = "low"
		if (later >= 0.99 && share >= 0.5 && c >= min)
			v = "ok"
		printf "%s ring share %.2f%%, %.2f%% after the first bytes ", v,
		    100 * share, 100 * later
		printf "(ring %.0f B, tcp %.0f B, %.0f B before the rings, ",
		    ring, tcp, first
		printf "%d connections ended, want >= %d)\n", c, min
	}')
	ring_txt="${res#* }$open"
	[ "${res%% *}" = ok ] && [ -z "$open" ] && ring_ok=true
	$ring_ok || say "status after the run: $(ctl_line)"
}

daemon_start() {
	local t0 n rc
	if ! $XL/xenloopd --help 2>&1 | grep -qE -- '--xen([^a-z-]|$)'; then
		nodaemon="daemon has no --xen mode"
		check "e2e_daemon_$role" FAIL "$nodaemon (xenloopd --help)"
		return
	fi
	mkdir -p $RUNDIR
	t0=$(up)
	# shellcheck disable=SC2086 # options are words on purpose
	$XL/xenloopd $DAEMON_ARGS >$T.xenloopd.log 2>&1 &
	dpid=$!
	n=$((DAEMON_S * 4))
	until ctl >/dev/null; do
		if ! running $dpid || [ $n -le 0 ]; then
			if running $dpid; then
				nodaemon="xenloopd $DAEMON_ARGS did not answer"
				nodaemon="$nodaemon in $DAEMON_S s"
				kill -KILL $dpid
			else
				nodaemon="xenloopd $DAEMON_ARGS exited"
			fi
			wait $dpid
			rc=$?
			nodaemon="$nodaemon (status $rc)"
			dpid=
			check "e2e_daemon_$role" FAIL "$nodaemon; its log:"
			show xenloopd $T.xenloopd.log 30
			return
		fi
		n=$((n - 1))
		sleep 0.25
	done
	daemon_up=$(since "$t0")
}

# Once both guests said hello: wait (bounded) for the other guest to be
# listed with its link up, and report.
daemon_report() {
	local t0 n=$((PEER_S * 2)) who=${peer_domid:+domain $peer_domid}
	local when="$PEER_S s after the guests met"
	[ -n "$dpid" ] || return 0
	t0=$(up)
	# out of step, the other guest is not coming: look once
	if [ -n "$lost" ]; then
		n=0
		when="(the guests are out of step)"
	fi
	until peer_up; do
		if [ $n -le 0 ] || ! running $dpid; then
			break
		fi
		n=$((n - 1))
		sleep 0.5
	done
	say "xenloopctl status: $(ctl_line)"
	if $kmod && ! grep -q 'connections through the kernel module' \
		$T.xenloopd.log; then
		check "e2e_daemon_$role" FAIL "xenloopd $DAEMON_ARGS does not" \
			"use /dev/xenloop; its log:"
		show xenloopd $T.xenloopd.log 30
	elif running $dpid && peer_up; then
		check "e2e_daemon_$role" PASS "xenloopd $DAEMON_ARGS (pid" \
			"$dpid) answered after $daemon_up s; ${who:-a peer}" \
			"listed, link up, $(since "$t0") s after the guests met"
	elif running $dpid; then
		check "e2e_daemon_$role" FAIL "xenloopd $DAEMON_ARGS (pid" \
			"$dpid) answered after $daemon_up s, but" \
			"${who:-the other guest} is not listed with its link" \
			"up $when"
	else
		nodaemon="xenloopd $DAEMON_ARGS exited early"
		check "e2e_daemon_$role" FAIL "$nodaemon; its log:"
		show xenloopd $T.xenloopd.log 30
		wait $dpid
		dpid=
	fi
}

# Stop the daemon, take away any advertisement it left and wait until dom0
# has taken our table down: the discovery probe starts from nothing.
daemon_stop() {
	local t0 domid adv tab n ran=$dpid
	if [ -n "$dpid" ]; then
		t0=$(up)
		kill -TERM $dpid 2>/dev/null
		reap $dpid 5
		say "xenloopd --xen exited with $rc $(since "$t0") s after" \
			"SIGTERM$([ $was_running = yes ] && echo ', then KILL')"
		dpid=
		show xenloopd $T.xenloopd.log 20
	fi
	domid=$self_domid
	[ -n "$domid" ] || return 0
	adv=no
	if xenstore-read "/local/domain/$domid/data/xenloop" >/dev/null 2>&1
	then
		adv="yes ($(xenstore-ls "/local/domain/$domid/data/xenloop" \
			2>&1 | tr -s ' \n' ' '))"
		xenstore-rm "/local/domain/$domid/data/xenloop" 2>/dev/null
	fi
	tab=/local/domain/0/data/xenloop/peers/$domid
	t0=$(up)
	xenstore-read "$tab" >/dev/null 2>&1 || [ "$adv" != no ] ||
		[ -n "$ran" ] || return 0
	n=$((TABLE_S * 2))
	while xenstore-read "$tab" >/dev/null 2>&1 && [ $n -gt 0 ]; do
		n=$((n - 1))
		sleep 0.5
	done
	say "advertisement left behind: $adv; our table" \
		"$(xenstore-read "$tab" >/dev/null 2>&1 && echo 'still there' ||
			echo gone) $(since "$t0") s later"
}

# ---- guest 1: the clients ----

# a_iperf3 tcp|ring PORT
a_iperf3() {
	local mode="$1" port="$2" before gbit rc n="e2e_iperf3_$1" ok=false
	before=$(totals)
	msg_recv "ready iperf3_$mode" || return 1
	# shellcheck disable=SC2046 # the prefix is words
	$(pre "$mode") timeout 60 iperf3 -c $peer -p "$port" -t $IPERF_S \
		-f m >"$T.iperf3.$mode" 2>&1
	rc=$?
	# the receiver's rate, as the client was told it
	gbit=$(awk '/ receiver *$/ {
		for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") m = $(i - 1)
	} END { if (m != "") printf "%.3f", m / 1000 }' "$T.iperf3.$mode")
	msg_send "done iperf3_$mode" || return 1
	msg_recv "result iperf3_$mode" || return 1
	[ $rc -eq 0 ] && [ -n "$gbit" ] && ok=true
	$ok || show "iperf3 $mode" "$T.iperf3.$mode"
	if [ "$mode" = tcp ]; then
		check "$n" "$(pf "$ok")" "${gbit:-no} Gbit/s over netfront" \
			"(iperf3 exited $rc; server: $msg)"
		tcp_gbit=$gbit
		return 0
	fi
	ring_check 2 "$before"
	check "$n" "$(pf "$ok" "$ring_ok")" "${gbit:-no} Gbit/s through" \
		"the shim (TCP: ${tcp_gbit:-?}), $ring_txt (iperf3 exited" \
		"$rc; server: $msg)"
}

# a_transfer tcp|ring PORT [RUN ADDR FILE BYTES MD5 HOW COND]: $T.in to
# guest 2's $peer, or for RUN FILE (BYTES, md5 MD5) to ADDR; HOW the way
# there, for the detail, and COND (true/false) whether it may pass at all
a_transfer() {
	local mode="$1" port="$2" run="${3:-transfer}" addr="${4:-$peer}"
	local file="${5:-$T.in}" bytes="${6:-$in_bytes}" sum="${7:-$in_sum}"
	local how="${8:-over netfront}" cond="${9:-true}" ring_how="${8:+, $8}"
	local n="e2e_${run}_$mode" before t0 took rc mbit osum obytes
	local ok=false
	before=$(totals)
	msg_recv "ready ${run}_$mode" || return 1
	# socat connects, then its data source pauses: bytes written before
	# the channel comes go by TCP (docs/protocol.md §4), and a sender that
	# writes at once puts a whole socket buffer there (1 MiB of 32 in
	# tests/e2e), more than the 1% a ring run may leave on TCP
	t0=$(up)
	# shellcheck disable=SC2046 # the prefix is words
	$(pre "$mode") timeout 60 socat -u -b 65536 \
		"SYSTEM:sleep $XFER_PAUSE_S; exec cat $file" \
		"TCP:$addr:$port" >"$T.xfer.$mode" 2>&1
	rc=$?
	took=$(awk -v t="$(since "$t0")" -v p=$XFER_PAUSE_S \
		'BEGIN { printf "%.1f", t - p }')
	msg_send "done ${run}_$mode $sum $bytes" || return 1
	msg_recv "result ${run}_$mode" || return 1
	# the server's "status md5 bytes"
	# shellcheck disable=SC2086 # words on purpose
	set -- $msg
	osum=$2
	obytes=$3
	mbit=$(awk -v b="$bytes" -v s="$took" \
		'BEGIN { if (s > 0) printf "%.0f", b * 8 / s / 1e6 }')
	[ $rc -eq 0 ] && [ "$osum" = "$sum" ] &&
		[ "$obytes" = "$bytes" ] && ok=true
	$ok || show "socat $mode" "$T.xfer.$mode"
	if [ "$mode" = tcp ]; then
		check "$n" "$(pf "$ok" "$cond")" "$bytes B in $took s after" \
			"the pause (${mbit:-?} Mbit/s) $how, md5" \
			"$sum; server got $obytes B, md5 $osum (socat" \
			"exited $rc, server's $1)"
		return 0
	fi
	ring_check 1 "$before"
	check "$n" "$(pf "$ok" "$ring_ok" "$cond")" "$bytes B in $took s" \
		"after the pause (${mbit:-?} Mbit/s) through the shim$ring_how," \
		"md5 $sum; server got $obytes B, md5 $osum; $ring_txt (socat" \
		"exited $rc, server's $1)"
}

# Is the way to $1 through dom0's routed vif (eth1, via 198.19.1.254)?
routed_via_dom0() {
	ip route get "$1" 2>/dev/null | grep -q 'via 198\.19\.1\.254 dev eth1'
}

# a_routed tcp|ring PORT: the head of the transfer's data to guest 2's
# routed address, which only a way through dom0 may take; on the ring,
# our daemon must also show that address as the peer's (xenloopctl)
a_routed() {
	local via=false listed=true route how
	routed_via_dom0 "$peer_routed" && via=true
	route=$(ip route get "$peer_routed" 2>&1 | head -n 1 | tr -s ' ' |
		sed 's/ $//')
	how="to $peer_routed, routed $($via || echo "NOT ")through dom0"
	how="$how ($route)"
	if [ "$1" = ring ]; then
		ctl_flat | grep -qF "\"addrs\":[\"$peer_routed\"]" ||
			listed=false
		how="$how, $($listed || echo "NOT ")listed as the peer's"
		how="$how address by xenloopctl"
	fi
	a_transfer "$1" "$2" routed "$peer_routed" $T.rin "$routed_bytes" \
		"$routed_sum" "$how" "$($via && $listed && echo true ||
			echo false)"
}

# a_pingpong tcp|ring PORT
a_pingpong() {
	local mode="$1" port="$2" before rc n="e2e_pingpong_$1" ok=false
	local lat sent got bad f
	before=$(totals)
	msg_recv "ready pingpong_$mode" || return 1
	f=$T.pp.$mode
	# shellcheck disable=SC2046 # the prefix is words
	$(pre "$mode") timeout 60 sockperf pp --tcp -i $peer -p "$port" \
		-t $PP_S >"$f" 2>&1
	rc=$?
	msg_send "done pingpong_$mode" || return 1
	msg_recv "result pingpong_$mode" || return 1
	lat=$(sed -n 's/.*Summary: Latency is \([0-9.]*\) usec.*/\1/p' "$f")
	sent=$(sed -n 's/.*Total Run.*SentMessages=\([0-9]*\).*/\1/p' "$f")
	got=$(sed -n 's/.*Total Run.*ReceivedMessages=\([0-9]*\).*/\1/p' "$f")
	# "# dropped messages = 0; # duplicated messages = 0; # out-of-..."
	bad=$(awk '/# dropped messages/ {
		for (i = 1; i <= NF; i++) if ($i == "=") s += $(i + 1)
		f = 1
	} END { print f ? s + 0 : "?" }' "$f")
	# at most one message is in flight when the time is up
	[ $rc -eq 0 ] && [ -n "$lat" ] && [ "$bad" = 0 ] &&
		[ -n "$sent" ] && [ -n "$got" ] && [ "$got" -gt 0 ] &&
		[ $((sent - got)) -le 1 ] && ok=true
	$ok || show "sockperf $mode" "$f"
	if [ "$mode" = tcp ]; then
		check "$n" "$(pf "$ok")" "latency ${lat:-?} us over netfront" \
			"($got of $sent answered, $bad dropped/duplicated/out" \
			"of order; sockperf exited $rc; server: $msg)"
		tcp_lat=$lat
		return 0
	fi
	ring_check 1 "$before"
	check "$n" "$(pf "$ok" "$ring_ok")" "latency ${lat:-?} us" \
		"through the shim (TCP: ${tcp_lat:-?} us), $ring_txt ($got of" \
		"$sent answered, $bad dropped/duplicated/out of order;" \
		"sockperf exited $rc; server: $msg)"
}

# ---- guest 2: the servers ----

# b_serve RUN MODE PORT COMMAND...: start the server under the shim or
# not, tell guest 1, wait for its "done"; the server's pid in $spid, the
# daemon's totals before in $before, guest 1's words in $msg.
b_serve() {
	local run="$1" mode="$2" port="$3"
	shift 3
	before=$(totals)
	# shellcheck disable=SC2046 # the prefix is words
	start_bg $(pre "$mode") timeout 120 "$@" >"$T.srv.$run.$mode" 2>&1
	spid=$last
	wait_listen "$port" || say "$run $mode: nothing listens on $port"
	msg_send "ready ${run}_$mode" || return 1
	msg_recv "done ${run}_$mode"
}

b_iperf3() {
	local mode="$1" port="$2" ok=false
	b_serve iperf3 "$mode" "$port" iperf3 -s -1 -B $me -p "$port" ||
		return 1
	# -1: it ends with the test
	reap $spid 20
	[ $rc -eq 0 ] && ok=true
	$ok || show "iperf3 -s $mode" "$T.srv.iperf3.$mode"
	if [ "$mode" = ring ]; then
		ring_check 2 "$before"
		check e2e_iperf3_ring_srv "$(pf "$ok" "$ring_ok")" \
			"iperf3 -s exited $rc; $ring_txt"
	fi
	msg_send "result iperf3_$mode iperf3 -s exited $rc"
}

# b_transfer tcp|ring PORT [RUN ADDR]: the transfer's server on $me, or
# RUN's on ADDR
b_transfer() {
	local mode="$1" port="$2" run="${3:-transfer}" addr="${4:-$me}"
	local ok=false sum bytes
	rm -f $T.out
	b_serve "$run" "$mode" "$port" socat -u \
		"TCP-LISTEN:$port,bind=$addr,reuseaddr" "CREATE:$T.out" ||
		return 1
	# guest 1's "md5 bytes"; socat ends with the stream
	# shellcheck disable=SC2086 # words on purpose
	set -- $msg
	reap $spid 30
	sum=$(md5sum <$T.out 2>/dev/null | cut -d' ' -f1)
	bytes=$(wc -c <$T.out 2>/dev/null)
	rm -f $T.out
	[ $rc -eq 0 ] && [ "$sum" = "$1" ] && [ "$bytes" = "$2" ] && ok=true
	$ok || show "socat server $mode" "$T.srv.$run.$mode"
	if [ "$mode" = ring ]; then
		ring_check 1 "$before"
		check "e2e_${run}_ring_srv" "$(pf "$ok" "$ring_ok")" \
			"got $bytes B on $addr, md5 $sum (sent: $2 B, $1);" \
			"$ring_txt (socat exited $rc)"
	fi
	msg_send "result ${run}_$mode exit-$rc ${sum:-none} ${bytes:-0}"
}

# b_routed tcp|ring PORT: the routed transfer's server, on our routed vif
b_routed() { b_transfer "$1" "$2" routed "$me_routed"; }

b_pingpong() {
	local mode="$1" port="$2" ok=false
	b_serve pingpong "$mode" "$port" sockperf sr --tcp -i $me \
		-p "$port" || return 1
	# sockperf sr serves until it is stopped: its connection ends first
	# (ring_check waits for that), then it gets SIGTERM
	[ "$mode" = ring ] && ring_check 1 "$before"
	reap $spid 0
	# it must have been up all along, and end by our signal
	[ $was_running = yes ] && ok=true
	$ok || show "sockperf sr $mode" "$T.srv.pingpong.$mode"
	if [ "$mode" = ring ]; then
		check e2e_pingpong_ring_srv "$(pf "$ok" "$ring_ok")" \
			"sockperf sr up until stopped: $was_running (status" \
			"$rc); $ring_txt"
	fi
	msg_send "result pingpong_$mode sockperf sr up until stopped:" \
		"$was_running"
}

# ---- guest 3: a guest that comes late and dies mid-stream ----

# Does guest 2's daemon have guest 3's stream on a ring?
newguest_ring() {
	ctl_flat | grep -q '"remote":"198\.18\.0\.3:[0-9]*","state":"ring"'
}

# guest 3's streams end here: a server under the shim with TCP keepalive
# (what a program that wants to hear of a dead peer uses: without xenloop,
# the kernel would end its connection once the peer stops answering)
newguest_serve() {
	# shellcheck disable=SC2046 # the prefix is words
	start_bg $(pre ring) timeout 300 socat -u \
		"TCP-LISTEN:$NEWG_PORT,bind=$me,reuseaddr,keepalive,keepidle=1,keepintvl=1,keepcnt=3" \
		OPEN:/dev/null >>"$T.srv.newguest" 2>&1
	spid=$last
	wait_listen $NEWG_PORT || say "newguest: nothing listens on $NEWG_PORT"
}

# Wait until test $1 holds, up to $3 s and while process $2 runs.
wait_while() {
	local n=$(($3 * 2))
	until $1; do
		[ $n -gt 0 ] && running "$2" || return 1
		n=$((n - 1))
		sleep 0.5
	done
}

# Wait up to $1 s for guest 3's stream on a ring here; linked=true if so.
newguest_wait() {
	linked=false
	wait_while newguest_ring "$spid" "$1"
	newguest_ring && linked=true
}

# Does this daemon have our stream to guest 3's server on a ring?
served_ring() {
	ctl_flat | grep -q "\"remote\":\"198\\.18\\.0\\.3:$SERVE_C_PORT\",\"state\":\"ring\""
}

newguest_peers() {
	ctl_flat | sed -n 's/.*"peers":\(\[[^]]*\]\).*/\1/p'
}

# Guest 2: guest 3 is created (it must be discovered and linked, and its
# stream go onto a ring), then destroyed while it streams: a destroyed
# domain runs no unmap-notify and sends no FIN, so only this daemon's watch
# of xenstore ends the ring; the connection must then end as it would
# without xenloop, not hang. Then guest 3 lives again, to be saved and
# restored (b_saved).
b_newguest() {
	local t0 t1 ended=false gone
	newguest_serve
	t0=$(up)
	echo "XLSYNC create-c"
	newguest_wait $NEWG_S
	check e2e_newguest_b "$(pf $linked)" "guest 3, created after both" \
		"daemons started: $($linked && echo "its stream on a ring" ||
			echo "no stream of it on a ring") $(since "$t0") s after" \
		"the cue; peers: $(newguest_peers)"
	if ! $linked; then
		newguest_abort "guest 3's stream never reached a ring"
		return
	fi
	b_privilege
	sleep 2
	t1=$(up)
	echo "XLSYNC destroy-c"
	reap $spid $GONE_S
	[ "$was_running" = no ] && ended=true
	gone=$(grep -o 'domain [0-9]* is gone.*' $T.xenloopd.log | head -n 1)
	check e2e_destroy_b "$(pf $ended)" "the connection from guest 3" \
		"$($ended && echo "ended $(since "$t1") s after the destroy cue" ||
			echo "was still open $GONE_S s after the destroy cue")" \
		"(socat exited $rc); xenloopd: ${gone:-nothing about it}"
	$ended || show "socat (newguest)" "$T.srv.newguest"
	if ! $ended; then
		newguest_abort "guest 3's stream did not end when it was" \
			"destroyed"
		return
	fi
	b_saved
}

# Guest 3's run went wrong at $*: destroy it and skip what is left.
newguest_abort() {
	local n
	say "xenloopctl status: $(ctl_line)"
	show xenloopd $T.xenloopd.log 10
	echo "XLSYNC destroy-c$life"
	reap "$spid" 1
	for n in $todo; do
		case $n in
		e2e_privilege_b | e2e_saved_b | e2e_restored_b | e2e_destroy_b)
			check "$n" FAIL "not run: $*" ;;
		esac
	done
	show "socat (newguest)" "$T.srv.newguest"
	msg_send "result newguest $*"
}

# Guest 3 again, a new domain (its second life: "XLSYNC create-c2"), is
# saved and restored mid-stream (dom0's "xl save" then "xl restore", the
# events of a live migration): its connection here must end (its ring is
# void, and its old domain gone: this daemon reads ENOENT for it, as for a
# destroy), and the restored guest, a new domain, must be discovered,
# linked and its next stream on a ring again. (It is not, yet: a PV guest's
# mappings of other domains' pages do not survive a restore, and its
# daemon, which maps its links, dies; docs/xen.md §4, XL_XEN_XFAIL.)
b_saved() {
	local t1 ended=false served=false cpid crc
	life=2
	newguest_serve
	echo "XLSYNC create-c2"
	newguest_wait $NEWG_S
	if ! $linked; then
		newguest_abort "guest 3's second life never reached a ring"
		return
	fi
	# and a connection the other way, to guest 3's server: there the
	# ring is our pages, which guest 3 maps, and a restore takes away.
	# 256 KiB once its channel is surely there, then silence: the server
	# sleeps when the save comes, as most do (one that is on its ring
	# at that moment may die of it: docs/xen.md §4)
	# shellcheck disable=SC2046 # the prefix is words
	start_bg $(pre ring) timeout 300 socat -u SYSTEM:"sleep 3; head -c \
		262144 /dev/zero; sleep 600" "TCP:198.18.0.3:$SERVE_C_PORT" \
		>"$T.cli.c" 2>&1
	cpid=$last
	wait_while served_ring "$cpid" 30
	served_ring && served=true
	sleep 5
	t1=$(up)
	echo "XLSYNC save-c2"
	reap $spid $GONE_S
	[ "$was_running" = no ] && ended=true
	crc=$rc
	reap $cpid 5
	check e2e_saved_b "$(pf $ended $served)" "the connection from guest 3" \
		"$($ended && echo "ended $(since "$t1") s after the save cue" ||
			echo "was still open $GONE_S s after the save cue")" \
		"(socat exited $crc); ours to guest 3's server was" \
		"$($served && echo "on" || echo "not on") a ring before it" \
		"(socat exited" \
		"$rc after); xenloopd:" \
		"$(grep -o 'domain [0-9]* is gone.*' $T.xenloopd.log | tail -n 1)"
	if ! $ended; then
		newguest_abort "guest 3's stream did not end when it was saved"
		return
	fi
	newguest_serve
	newguest_wait $RESTORE_S
	check e2e_restored_b "$(pf $linked)" "guest 3, restored:" \
		"$($linked && echo "its new stream on a ring" ||
			echo "no stream of it on a ring") $(since "$t1") s after" \
		"the save cue; peers: $(newguest_peers)"
	echo "XLSYNC destroy-c2"
	reap $spid $GONE_S
	msg_send "result newguest restored: $linked"
}

# Invariant 4 in practice: the server under the shim, its connection on a
# grant ring, maps that ring but holds no grant-device file (the daemon
# opened it for this connection, and the library closed it after mmap),
# only the event-channel files of its connection.
b_privilege() {
	local p found= gnt evt maps res=FAIL
	for p in $(pidof socat); do
		grep -q libxenloop "/proc/$p/maps" 2>/dev/null || continue
		found=$p
		gnt=$(ls -l "/proc/$p/fd" 2>/dev/null | grep -c '/dev/xen/gnt')
		evt=$(ls -l "/proc/$p/fd" 2>/dev/null | grep -c '/dev/xen/evtchn')
		maps=$(grep -c '/dev/xen/gntdev' "/proc/$p/maps")
	done
	if [ -z "$found" ]; then
		check e2e_privilege_b FAIL "no socat under the shim here"
		return
	fi
	[ "$gnt" -eq 0 ] && [ "$evt" -ge 2 ] && [ "$maps" -ge 1 ] && res=PASS
	check e2e_privilege_b $res "the server under the shim (pid $found)" \
		"holds $gnt grant-device files and $evt evtchn files, and" \
		"maps its ring from gntdev ($maps mapping(s))"
}

# The kmod step's privilege run: a server under the shim whose connection
# is on a channel of the module, looked at (xen_kmod_probe p) while guest
# 1 sends to it slowly.
b_kprivilege() {
	local port="$1" p found= n=40 line
	# shellcheck disable=SC2046 # the prefix is words
	start_bg $(pre ring) timeout 60 socat -u \
		"TCP-LISTEN:$port,bind=$me,reuseaddr" OPEN:/dev/null \
		>"$T.srv.priv" 2>&1
	spid=$last
	wait_listen "$port" || say "privilege: nothing listens on $port"
	msg_send "ready privilege" || return 1
	# until its connection is on a channel (bounded)
	while [ -z "$found" ] && [ $n -gt 0 ]; do
		sleep 0.25
		n=$((n - 1))
		for p in $(pidof socat); do
			grep -q libxenloop "/proc/$p/maps" 2>/dev/null ||
				continue
			ls -l "/proc/$p/fd" 2>/dev/null |
				grep -q 'anon_inode:\[xenloop\]' && found=$p
		done
	done
	if [ -z "$found" ]; then
		for p in $(pidof socat); do
			grep -q libxenloop "/proc/$p/maps" 2>/dev/null &&
				found=$p
		done
	fi
	if [ -n "$found" ]; then
		$XL/xen_kmod_probe p "$found" >$T.priv 2>&1
		line=$(sed -n 's/^XLTEST kmod_privilege_b //p' $T.priv |
			head -n 1)
		[ -n "$line" ] || line="FAIL no answer: $(tr '\n' '|' <$T.priv)"
		# shellcheck disable=SC2086 # PASS|FAIL, then the words
		check e2e_privilege_b $line
		ls -l "/proc/$found/fd" 2>/dev/null | tail -n 12 >$T.priv.fds
		show "the server's fds" $T.priv.fds 12
	else
		check e2e_privilege_b FAIL "no socat under the shim here"
	fi
	msg_recv "done privilege"
	reap $spid 20
	msg_send "result privilege"
}

a_kprivilege() {
	local port="$1"
	msg_recv "ready privilege" || return 1
	# 16 pieces of 64 KiB, half a second apart
	# shellcheck disable=SC2046 # the prefix is words
	$(pre ring) timeout 60 socat -u -b 65536 \
		"SYSTEM:i=0; while [ \$i -lt 16 ]; do head -c 65536 $T.in; sleep 0.5; i=\$((i + 1)); done" \
		"TCP:$peer:$port" >$T.priv 2>&1
	msg_send "done privilege" || return 1
	msg_recv "result privilege"
}

# ---- the kmod step's many connections (kmod_many) ----

# The module's page budget left (grants ours and mappings of the peer's)
# and its event channels (irqs named xenloop), "PAGES IRQS".
kcounts() {
	local b
	b=$($XL/xen_kmod_probe v 2>/dev/null | sed -n 's/^budget //p')
	echo "${b:-?} $(grep -c xenloop /proc/interrupts)"
}

# What xenloopctl status says the module's channels hold here,
# "CHANNELS GRANTS MAPPED EVTCHNS", or "?".
kstat() {
	local v
	v=$(ctl_flat | sed -n 's/.*"xen_kmod":{"channels":\([0-9]*\),"grants":\([0-9]*\),"mapped":\([0-9]*\),"event_channels":\([0-9]*\),.*/\1 \2 \3 \4/p')
	echo "${v:-?}"
}

# Wait (at most 15 s) until kstat says "0 0 0 0"; what it says in $ks.
kstat_back() {
	local n=60
	ks=$(kstat)
	while [ "$ks" != "0 0 0 0" ] && [ $n -gt 0 ]; do
		sleep 0.25
		n=$((n - 1))
		ks=$(kstat)
	done
}

# Wait (at most 15 s) until kcounts says $1 again; what it says in $kc.
kcounts_back() {
	local n=60
	kc=$(kcounts)
	while [ "$kc" != "$1" ] && [ $n -gt 0 ]; do
		sleep 0.25
		n=$((n - 1))
		kc=$(kcounts)
	done
}

# Guest 2: the server of MANY_N connections at once; the check is ours:
# every echo right, MANY_N channels and event channels of the module in
# use at once in this guest, all given back after, and at least 99% of
# the payload on rings (the warm-up's round trips go by TCP).
b_kmany() {
	local port="$1" k0 kh kc ksh ks ok=false res
	k0=$(kcounts)
	before=$(totals)
	start_bg sh -c "ulimit -n 8192 && exec $(pre ring) timeout 300 \
		$XL/xen_many s $me $port $MANY_N" >"$T.srv.many" 2>&1
	spid=$last
	wait_listen "$port" || say "many: nothing listens on $port"
	msg_send "ready many" || return 1
	msg_recv "hold many" 300 || return 1
	# guest 1's client holds every connection open: count ours
	kh=$(kcounts)
	ksh=$(kstat)
	res=$msg
	msg_send "counted many" || return 1
	msg_recv "done many" 120 || return 1
	res="$res; $msg"
	reap $spid 60
	ring_check "$MANY_N" "$before"
	kcounts_back "$k0"
	kstat_back
	# all at once: MANY_N channels of MANY_PAGES pages (own and peer)
	# and one event channel each, all given back after; the daemon's
	# status says as much (channels, grants, mappings, event channels)
	set -- $k0 $kh $ksh
	[ $rc -eq 0 ] && [ "$1" != "?" ] && [ "$3" != "?" ] &&
		[ $(($1 - $3)) -ge $((MANY_N * MANY_PAGES)) ] &&
		[ $(($4 - $2)) -ge "$MANY_N" ] && [ "$kc" = "$k0" ] &&
		[ "$5" != "?" ] && [ "$5" -ge "$MANY_N" ] &&
		[ $(($6 + $7)) -ge $((MANY_N * MANY_PAGES)) ] &&
		[ "$8" -ge "$MANY_N" ] && [ "$ks" = "0 0 0 0" ] &&
		case $res in *"client 0"*"wrong 0"*"back yes"*) true ;;
		*) false ;; esac && ok=true
	$ok || show "xen_many s" "$T.srv.many"
	check many "$(pf "$ok" "$ring_ok")" "$MANY_N connections at once:" \
		"module pages left / event channels here $k0 before, $kh" \
		"while open, $kc after; status channels/grants/mapped/event" \
		"channels $ksh while open, $ks after; server exited $rc;" \
		"$ring_txt;" \
		"guest 1: $res"
	msg_send "result many"
}

# Guest 1: the client.
a_kmany() {
	local port="$1" k0 kh kc n=960 rc cpid wrong
	k0=$(kcounts)
	before=$(totals)
	msg_recv "ready many" 120 || return 1
	rm -f $T.hold $T.release
	start_bg sh -c "ulimit -n 8192 && exec $(pre ring) timeout 300 \
		$XL/xen_many c $peer $port $MANY_N $T.hold $T.release" \
		>"$T.many" 2>&1
	cpid=$last
	while [ ! -e $T.hold ] && running "$cpid" && [ $n -gt 0 ]; do
		sleep 0.25
		n=$((n - 1))
	done
	kh=$(kcounts)
	msg_send "hold many guest 1 $k0 before, $kh while open" || {
		touch $T.release; return 1; }
	msg_recv "counted many" 60
	touch $T.release
	reap "$cpid" 60
	show "xen_many c" "$T.many" 3
	wrong=$(sed -n 's/.* \([0-9]*\) echoes wrong.*/\1/p' "$T.many")
	ring_check "$MANY_N" "$before"
	kcounts_back "$k0"
	msg_send "done many client $rc, wrong ${wrong:-?}, back" \
		"$([ "$kc" = "$k0" ] && echo yes || echo "no ($kc)");" \
		"$(tail -n 1 "$T.many" | tr -d '\n')" || return 1
	msg_recv "result many" 120
}

# Guest 1 only waits: guest 2's run takes a guest's boot, restore and death
# (and dom0's create, destroy, save and restore of it: 630 s in all on a
# host loaded to 10, where 350 s put the guests out of step for the rest
# of the run). The step's own bound is the limit.
a_newguest() {
	msg_recv "result newguest" \
		$((4 * NEWG_S + 4 * GONE_S + 2 * RESTORE_S + 240))
}

# How many of this daemon's links are up.
links_up() { ctl_flat | grep -o '"link":"up"' | wc -l; }

# Are both other guests linked (guest 2 is the one that matters)?
c_both_linked() { [ "$(links_up)" -ge 2 ]; }

# Wait up to $1 s, while our daemon runs, until both are.
c_linked() { wait_while c_both_linked "$dpid" "$1"; }

# Guest 3 finds itself restored as domain $2 (it was $1): its daemon must
# have lived through it (Linux oopses or BUG()s on a careless unmap or
# unbind of what was mapped or bound before: docs/xen.md §4) and linked
# again as the new domain.
c_restored() {
	local t n links oops warns srv reset res=FAIL alive=false
	t=$(up)
	# within guest 2's wait for the stream, so that this reports first
	c_linked $((RESTORE_S - 20))
	links=$(links_up)
	running "$dpid" && alive=true
	# the server whose ring was guest 2's pages must end by itself, its
	# connection reset, not be killed by a fault on them
	n=60
	while [ ! -s $T.serve.rc ] && [ $n -gt 0 ]; do
		n=$((n - 1))
		sleep 0.5
	done
	srv=$(cat $T.serve.rc 2>/dev/null)
	oops=$(dmesg | grep -cE 'Oops|BUG:|general protection')
	warns=$(dmesg | grep -c 'WARNING:')
	# a reset (what it had not read is lost), not a clean end of
	# stream, and not a signal
	reset=$(grep -c 'Connection reset by peer' $T.serve.log)
	$alive && [ "$links" -ge 2 ] && [ "$oops" -eq 0 ] &&
		[ -n "$srv" ] && [ "$srv" -lt 128 ] && [ "$reset" -ge 1 ] &&
		res=PASS
	check e2e_restored_c $res "restored as domain $2 (was $1):" \
		"xenloopd (pid $dpid) $($alive && echo runs || echo is gone)," \
		"$links links up $(since "$t") s after it saw the new domid;" \
		"the server that mapped guest 2's ring" \
		"$([ -n "$srv" ] && echo "exited with $srv" || echo "still runs")" \
		"$([ "$reset" -ge 1 ] && echo "after a reset" ||
			echo "without a reset");" \
		"kernel log: $oops lines of oops/BUG, $warns warnings"
	grep -E ' [EW] |accepting' $T.serve.log | tail -n 4 |
		while IFS= read -r n; do say "server: $n"; done
	grep -E 'domid changed|holding|cannot' $T.xenloopd.log | head -n 8 |
		while IFS= read -r n; do say "xenloopd: $n"; done
	dmesg | grep -E -A 6 'Oops|BUG|WARNING:|general protection' |
		head -n 40 | while IFS= read -r n; do say "dmesg: $n"; done
}

# Guest 3: its daemon, then the stream to guest 2 until it is destroyed,
# again after a restore.
c_stream() {
	local n=$((NEWG_S * 2)) dom0 dom
	dom0=$(xenstore-read domid)
	daemon_start
	[ -n "$dpid" ] || return
	c_linked $NEWG_S
	say "xenloopctl status: $(ctl_line)"
	# a server, for guest 2's stream in our second life: our side of it
	# maps guest 2's pages, which a restore takes away (c_restored)
	# (-d -d: socat reports a reset as a warning, and exits 0)
	start_bg sh -c "$(pre ring) socat -d -d -u \
		TCP-LISTEN:$SERVE_C_PORT,bind=$me,reuseaddr OPEN:/dev/null \
		2>>$T.serve.log; echo \$? >$T.serve.rc"
	# what this guest knows, on the console: it dies without a word
	while sleep 5; do
		say "xenloopctl status: $(ctl_line)"
		show "shim" $T.shim.log 5
		dom=$(xenstore-read domid)
		if [ -n "$dom0" ] && [ -n "$dom" ] && [ "$dom" != "$dom0" ]; then
			c_restored "$dom0" "$dom"
			dom0=
		fi
	done &
	while [ $n -gt 0 ]; do
		# a stream that starts before the link is up stays on TCP
		c_linked $RESTORE_S
		# paced (64 KiB every 0.2 s): a stream at full speed would
		# starve the other guests and dom0 of TCG's two CPUs
		# shellcheck disable=SC2046 # the prefix is words
		$(pre ring) socat -u SYSTEM:"while head -c 65536 /dev/zero; do
			sleep 0.2; done" "TCP:$peer:$NEWG_PORT" 2>>$T.stream.log
		show "socat (stream)" $T.stream.log 3
		n=$((n - 1))
		sleep 0.5
	done
}

# ---- the step ----

# Whatever is left of our processes, and the daemon: on the way out, and
# on a signal (guest-init.sh's bound on the whole step).
cleanup() {
	local p
	for p in $pids; do
		running "$p" && kill -KILL "$p" 2>/dev/null
	done
	daemon_stop
	rm -f $T.in $T.rin $T.out
}
trap 'say "stopped by a signal"; cleanup; exit 1' TERM INT

t_step=$(up)
life=		# guest 3's: "" first, then 2 (its cues carry it)
if [ "$role" = c ]; then
	c_stream
	exit 0
fi
if [ "$role" = a ]; then
	# the transfer's data, made while the other guest may still boot
	dd if=/dev/urandom of=$T.in bs=1048576 count=$XFER_MIB 2>/dev/null
	in_sum=$(md5sum <$T.in | cut -d' ' -f1)
	in_bytes=$(wc -c <$T.in)
	# the routed transfer's, its head (busybox cat sends a file with
	# sendfile(), head -c 4 KiB at a time: too slow a source under TCG)
	head -c $((ROUTED_MIB * 1048576)) $T.in >$T.rin
	routed_sum=$(md5sum <$T.rin | cut -d' ' -f1)
	routed_bytes=$(wc -c <$T.rin)
fi
self_domid=$(xenstore-read domid 2>/dev/null)
daemon_start
# "hello DOMID WORDS": who we are, and whether our daemon runs
hello="hello ${self_domid:-none} $([ -n "$dpid" ] &&
	echo "xenloopd --xen runs" || echo "$nodaemon")"
if [ "$role" = a ]; then
	msg_send -t $MEET_S "$hello" && msg_recv hello
else
	msg_recv hello $MEET_S && msg_send "$hello"
fi
peer_domid=
if [ -z "$lost" ]; then
	peer_domid=${msg%% *}
	[ "$peer_domid" != none ] || peer_domid=
	say "met the other guest (domain ${peer_domid:-?}: ${msg#* }) after" \
		"$(since "$t_step") s; MemAvailable $(mem_avail)"
fi
daemon_report

# tcp then ring, for each program; ports of their own (no TIME_WAIT
# between two runs)
for run in iperf3:5201 transfer:7201 routed:7301 pingpong:11111; do
	[ -z "$lost" ] || break
	name=${run%:*}
	port=${run#*:}
	t_run=$(up)
	if $kmod; then
		# ring runs only, on ports of their own
		"${role}_$name" ring $((port + 2))
		say "$name run took $(since "$t_run") s"
		continue
	fi
	"${role}_$name" tcp "$port" && "${role}_$name" ring $((port + 1))
	say "$name runs took $(since "$t_run") s"
	[ "$name" = transfer ] && [ "$role" = a ] &&
		say "MemAvailable with $XFER_MIB MiB in /tmp: $(mem_avail)"
done
if $kmod; then
	[ -z "$lost" ] && "${role}_kprivilege" 7401
	[ -z "$lost" ] && "${role}_kmany" 7501
else
	[ -z "$lost" ] && "${role}_newguest"
fi

show "shim log" $T.shim.log 20
cleanup
# both tables are down: the discovery probes may begin
if [ "$role" = a ]; then
	msg_send bye && msg_recv bye
else
	msg_recv bye && msg_send bye
fi
for n in $todo; do
	check "$n" FAIL "not run: ${lost:-the e2e step ended early}"
done
say "e2e step done after $(since "$t_step") s"
