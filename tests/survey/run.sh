#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Transparency survey: real programs between guest a (clients) and guest b
# (servers), each scenario run in four modes
#
#   plain   no library            (the reference)
#   both    the library at both ends
#   client  the library in the client only
#   server  the library in the server only
#
# and compared: what the client observed (stdout, exit status, checksums,
# error messages, with timing-dependent lines filtered by the scenario)
# must be identical to plain. Prints one table row per scenario and mode:
# same/DIFF, exit status, wall time ratio to plain, ring share of the
# bytes the daemons counted. Not part of `make check` (too long, and
# programs outside tests/deps.sh); run by hand as root:
#
#   tests/survey/run.sh [SCENARIO...]     (default: all that can run)
#
# Outputs stay in $SURVEY_OUT (default build/survey) for inspection.
# Every wait is bounded by timeout(1); every server is stopped after its
# scenario, and lib.sh's cleanup kills anything left.

set -uo pipefail
XL_TOP_SRCDIR=${XL_TOP_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$XL_TOP_SRCDIR/tests/e2e/data-lib.sh"
set +e
# lib.sh registers connections at once (0) for its own tests; the survey
# runs what an outside tester gets: the library's default delay, unless
# SURVEY_REGISTER_DELAY_US says otherwise
if [ -n "${SURVEY_REGISTER_DELAY_US:-}" ]; then
	export XENLOOP_REGISTER_DELAY_US=$SURVEY_REGISTER_DELAY_US
else
	unset XENLOOP_REGISTER_DELAY_US
fi

SURVEY_OUT=${SURVEY_OUT:-$XL_TOP_SRCDIR/build/survey}
MODES=(${SURVEY_MODES:-plain both client server})
T=${SURVEY_TIMEOUT:-60}
A=$XL_ADDR_A
B=$XL_ADDR_B

xl_data_setup
rm -rf "$SURVEY_OUT"
mkdir -p "$SURVEY_OUT"
D=$XL_RUNDIR/data
mkdir -p "$D/www"
head -c $((20 << 20)) /dev/urandom >"$D/www/big.bin"
printf 'hello survey\n' >"$D/www/small.txt"
BIGSUM=$(sha256sum <"$D/www/big.bin" | cut -d' ' -f1)

# S and C: command prefixes for the server (guest b) and client (guest a)
# in the current mode
set_mode() {
	local preload=(env LD_PRELOAD="$XL_DATA_PRELOAD" XENLOOP_RUNDIR="$XL_RUNDIR")
	S=(ip netns exec "$XL_NS_B")
	C=(ip netns exec "$XL_NS_A")
	case $1 in
	both) S+=("${preload[@]}"); C+=("${preload[@]}") ;;
	client) C+=("${preload[@]}") ;;
	server) S+=("${preload[@]}") ;;
	esac
}

SRV_PIDS=()
# srv CMD...: start a server in guest b, remembered for stop_srv
srv() {
	# the server's own output is no part of what the client observed
	xl_bg timeout -k 2 $((T * 3)) "${S[@]}" "$@" >>"$SRV_LOG" 2>&1
	SRV_PIDS+=("$XL_LAST_PID")
}

stop_srv() {
	local p
	for p in "${SRV_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${SRV_PIDS[@]}"; do
		timeout 5 tail --pid="$p" -f /dev/null 2>/dev/null ||
			kill -KILL "$p" 2>/dev/null
	done
	SRV_PIDS=()
	# anything the server forked that outlived it
	ip netns pids "$XL_NS_B" | while read -r p; do
		case $(cat /proc/$p/comm 2>/dev/null) in
		xenloopd) ;;
		*) kill -KILL "$p" 2>/dev/null ;;
		esac
	done
}

# wait_port PORT: bounded wait for a listener in guest b
wait_port() {
	xl_wait_for 10 sh -c "ip netns exec $XL_NS_B ss -Hltn 'sport = :$1' | grep -q ." ||
		echo "survey: nothing listens on $1" >&2
}

# ring/tcp byte totals of both daemons
totals() {
	local sa sb
	sa=$(xl_status_json "$XL_NS_A")
	sb=$(xl_status_json "$XL_NS_B")
	"$XL_PY" -c '
import json, sys
r = t = c = 0
for s in sys.argv[1:]:
    x = json.loads(s)["totals"]
    r += x["ring_tx"] + x["ring_rx"]; t += x["tcp_tx"] + x["tcp_rx"]
    c += x["connections"]
print(r, t, c)' "$sa" "$sb"
}

now() { date +%s.%N; }

ROWS=()
declare -A PLAIN_TIME

# run_case NAME: for each mode, run case_NAME with stdout to the transcript
run_case() {
	local name=$1 mode out t0 t1 rc r0 t0b c0 r1 t1b c1 same ratio share
	for mode in "${MODES[@]}"; do
		set_mode "$mode"
		out=$SURVEY_OUT/$name.$mode
		SRV_LOG=$out.srv
		read -r r0 t0b c0 < <(totals)
		t0=$(now)
		"case_$name" >"$out.out" 2>"$out.err"
		rc=$?
		t1=$(now)
		stop_srv
		xl_wait_for 5 xl_no_connections "$XL_NS_A"
		xl_wait_for 5 xl_no_connections "$XL_NS_B"
		read -r r1 t1b c1 < <(totals)
		# the daemons' fallback and switch counts (cumulative) for a look
		{ xl_status_json "$XL_NS_A"; xl_status_json "$XL_NS_B"; } |
			"$XL_PY" -c '
import json, sys
for doc in sys.stdin.read().replace("}\n{", "}\x00{").split("\x00"):
    j = json.loads(doc)
    print({k: v for k, v in j["fallbacks"].items() if v},
          j["totals"]["switched"])' >"$out.daemons" 2>&1
		echo "rc=$rc" >>"$out.out"
		if [ "$mode" = plain ]; then
			PLAIN_TIME[$name]=$(echo "$t1 - $t0" | bc)
			same=ref
		elif cmp -s "$SURVEY_OUT/$name.plain.out" "$out.out"; then
			same=same
		else
			same=DIFF
		fi
		ratio=$(echo "scale=2; ($t1 - $t0) / ${PLAIN_TIME[$name]}" | bc)
		share=$(awk -v r=$((r1 - r0)) -v t=$((t1b - t0b)) \
			'BEGIN { printf "%.1f%%", (r + t) ? 100 * r / (r + t) : 0 }')
		ROWS+=("$(printf '%-14s %-7s %-5s %-5s %6.2fs x%-5s ring %-6s conns %d' \
			"$name" "$mode" "$same" "$rc" "$(echo "$t1 - $t0" | bc)" \
			"$ratio" "$share" $((c1 - c0)))")
		echo "${ROWS[-1]}" >&2
	done
}

# --- scenarios: each prints what the client observed ---

# client sends 20 MB, half-closes (shut-down), server answers its checksum
case_socat_up() {
	srv socat TCP-LISTEN:7001,bind=$B,reuseaddr 'SYSTEM:sha256sum'
	wait_port 7001
	timeout $T "${C[@]}" socat -t10 - TCP:$B:7001,shut-down <"$D/www/big.bin"
	echo "rc=$?"
}

# server sends 20 MB and closes, client checksums
case_socat_down() {
	srv socat -u OPEN:"$D/www/big.bin" TCP-LISTEN:7002,bind=$B,reuseaddr
	wait_port 7002
	timeout $T "${C[@]}" socat -u TCP:$B:7002 STDOUT | sha256sum
	echo "rc=${PIPESTATUS[0]}"
}

# nc -N both directions: the receiving end ends on the sender's FIN
case_nc() {
	rm -f "$D/nc.recv"
	srv sh -c "nc -l $B 7003 >'$D/nc.recv'"
	wait_port 7003
	timeout $T "${C[@]}" nc -N $B 7003 <"$D/www/big.bin"
	echo "up rc=$?"
	timeout 10 tail --pid="${SRV_PIDS[0]}" -f /dev/null
	sha256sum <"$D/nc.recv"
	srv sh -c "nc -N -l $B 7004 <'$D/www/big.bin'"
	wait_port 7004
	timeout $T "${C[@]}" nc $B 7004 | sha256sum
	echo "down rc=${PIPESTATUS[0]}"
}

# curl against python3 -m http.server (HTTP/1.0 server: no keep-alive)
case_curl_pyhttp() {
	srv /usr/bin/python3 -m http.server -b $B -d "$D/www" 7005
	wait_port 7005
	curl_suite 7005
}

curl_suite() {
	local u=http://$B:$1
	timeout $T "${C[@]}" curl -sS -o /dev/null \
		-w '%{http_code} %{size_download} %{num_connects}\n' \
		"$u/small.txt" "$u/small.txt" "$u/big.bin"
	echo "keepalive rc=$?"
	timeout $T "${C[@]}" curl -sS "$u/big.bin" | sha256sum
	timeout $T "${C[@]}" curl -sS -r 100-199 "$u/big.bin" | sha256sum
	timeout $T "${C[@]}" curl -sS -I "$u/big.bin" |
		grep -vi '^date:\|^last-modified:\|^etag:'
	timeout $T "${C[@]}" curl -sS "$u/missing" -o /dev/null -w '%{http_code}\n'
	timeout $T "${C[@]}" wget -q -O - "$u/big.bin" | sha256sum
	echo "wget rc=${PIPESTATUS[0]}"
}

nginx_conf() {
	mkdir -p "$D/ngx/tmp"
	cat >"$D/ngx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
user root root;
pid $D/ngx/nginx.pid;
error_log $D/ngx/error.log info;
events { worker_connections 512; }
http {
	types { application/octet-stream bin; text/plain txt; }
	default_type application/octet-stream;
	access_log off;
	client_body_temp_path $D/ngx/tmp;
	proxy_temp_path $D/ngx/tmp;
	fastcgi_temp_path $D/ngx/tmp;
	uwsgi_temp_path $D/ngx/tmp;
	scgi_temp_path $D/ngx/tmp;
	sendfile on;
	keepalive_timeout 30;
	server {
		listen $B:7006;
		root $D/www;
		location /chunked { gzip on; gzip_types text/plain; gzip_min_length 1;
			return 200 "chunked body\n"; }
		location = /gz.txt { gzip on; gzip_types text/plain; gzip_min_length 1; }
	}
}
EOF
	head -c 300000 /dev/urandom | base64 >"$D/www/gz.txt"
}

# curl + wget against nginx, plus a chunked (gzip) response
case_curl_nginx() {
	srv nginx -e "$D/ngx/error.log" -p "$D/ngx" -c "$D/ngx/nginx.conf"
	wait_port 7006
	curl_suite 7006
	timeout $T "${C[@]}" curl -sS -H 'Accept-Encoding: gzip' -D - \
		http://$B:7006/gz.txt -o "$D/gz.out" | grep -i 'transfer-encoding\|content-encoding'
	gzip -dc <"$D/gz.out" | cmp - "$D/www/gz.txt" && echo gz ok
}

# ab with and without -k against nginx (counts only, not the rates)
case_ab() {
	srv nginx -e "$D/ngx/error.log" -p "$D/ngx" -c "$D/ngx/nginx.conf"
	wait_port 7006
	local k
	for k in "" -k; do
		timeout $T "${C[@]}" ab $k -q -n 2000 -c 8 http://$B:7006/small.txt \
			>"$D/ab.out" 2>&1
		echo "ab$k rc=$?"
		grep -E '^(Complete requests|Failed requests|Non-2xx|Keep-Alive requests|Document Length)' "$D/ab.out"
		grep 'Requests per second' "$D/ab.out" >&2
	done
}

# git daemon + git clone
case_git() {
	if [ ! -d "$D/repo.git" ]; then
		git init -q "$D/repo" &&
		cp "$D/www/big.bin" "$D/repo/" &&
		git -C "$D/repo" add big.bin &&
		git -C "$D/repo" -c user.name=s -c user.email=s@x commit -qm one &&
		git clone -q --bare "$D/repo" "$D/repo.git"
	fi
	rm -rf "$D/clone"
	srv git daemon --reuseaddr --listen=$B --port=7007 --export-all \
		--base-path="$D" "$D"
	wait_port 7007
	timeout $T "${C[@]}" git clone -q git://$B:7007/repo.git "$D/clone"
	echo "clone rc=$?"
	sha256sum <"$D/clone/big.bin"
	git -C "$D/clone" log --format=%s
}

# rsync daemon mode, push and pull
case_rsync() {
	cat >"$D/rsyncd.conf" <<EOF
use chroot = no
pid file = $D/rsyncd.pid
[w]
path = $D/rs
read only = no
uid = root
gid = root
EOF
	rm -rf "$D/rs" "$D/rsback"
	mkdir -p "$D/rs" "$D/rsback"
	srv rsync --daemon --no-detach --address=$B --port=7008 --config="$D/rsyncd.conf"
	wait_port 7008
	timeout $T "${C[@]}" rsync -a "$D/www/" rsync://$B:7008/w/
	echo "push rc=$?"
	timeout $T "${C[@]}" rsync -a rsync://$B:7008/w/ "$D/rsback/"
	echo "pull rc=$?"
	(cd "$D/rsback" && sha256sum big.bin small.txt gz.txt 2>&1)
}

# sshd in guest b, key auth; ssh command, scp both ways
case_ssh() {
	if [ ! -f "$D/id" ]; then
		ssh-keygen -q -t ed25519 -N '' -f "$D/id"
		ssh-keygen -q -t ed25519 -N '' -f "$D/hostkey"
		cp "$D/id.pub" "$D/authkeys"
		chmod 600 "$D/authkeys"
	fi
	mkdir -p /run/sshd
	srv /usr/sbin/sshd -D -e ${SSHD_OPTS:-} -p 7009 -o ListenAddress=$B -h "$D/hostkey" \
		-o AuthorizedKeysFile="$D/authkeys" -o StrictModes=no \
		-o PasswordAuthentication=no -o UsePAM=no -o PidFile=none
	wait_port 7009
	local o=(-i "$D/id" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
		-o BatchMode=yes -o LogLevel=ERROR)
	timeout $T "${C[@]}" ssh "${o[@]}" -p 7009 root@$B 'echo hi; exit 3'
	echo "ssh rc=$?"
	rm -f "$D/scp.out"
	timeout $T "${C[@]}" scp -q "${o[@]}" -P 7009 root@$B:"$D/www/big.bin" "$D/scp.out"
	echo "scp down rc=$?"
	sha256sum <"$D/scp.out"
	timeout $T "${C[@]}" ssh "${o[@]}" -p 7009 root@$B "cat >/dev/null; echo got" \
		<"$D/www/big.bin"
	echo "ssh up rc=$?"
}

# the same with sshd's re-exec off (-r): the child serves the socket
case_ssh_r() { SSHD_OPTS=-r case_ssh; }

# python3 programs: asyncio streams, selectors, loop.sock_sendall and
# loop.sock_sendfile, socketserver forking and threading (pyprogs.py)
py_case() {
	local py=$XL_TOP_SRCDIR/tests/survey/pyprogs.py
	srv /usr/bin/python3 "$py" server "$1" $B 7010 "$D/www/big.bin"
	wait_port 7010
	timeout $T "${C[@]}" /usr/bin/python3 "$py" client "$1" $B 7010 "$D/www/big.bin"
	echo "$1 rc=$?"
}
for m in asyncio selectors sockall sendfile forking threading; do
	eval "case_py_$m() { py_case $m; }"
done

# iperf3 -R and --bidir: only the exit status and that bytes moved
case_iperf3() {
	srv iperf3 -s -B $B -p 7011
	wait_port 7011
	local f
	for f in -R --bidir; do
		timeout $T "${C[@]}" iperf3 -c $B -p 7011 $f -t 3 -J >"$D/ip.json"
		echo "iperf3 $f rc=$?"
		/usr/bin/python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
e = j["end"]
print("error" in j, e["sum_sent"]["bytes"] > 0, e["sum_received"]["bytes"] > 0)
ks = [k for k in e if k.startswith("sum")]
print(" ".join(sorted(ks)))
for k in ("sum_sent", "sum_received", "sum_sent_bidir_reverse"):
    if k in e:
        print(k, "%.0f Mbit/s" % (e[k]["bits_per_second"] / 1e6), file=sys.stderr)
' "$D/ip.json"
		sleep 0.5
	done
}

# sockperf under-load
case_sockperf() {
	srv sockperf sr --tcp -i $B -p 7012
	wait_port 7012
	timeout $T "${C[@]}" sockperf ul --tcp -i $B -p 7012 -t 3 --mps 10000 >"$D/sp.out" 2>&1
	echo "sockperf rc=$?"
	grep -c 'avg-latency' "$D/sp.out"
	grep -o 'ERROR.*' "$D/sp.out"
	grep 'avg-latency\|dropped' "$D/sp.out" >&2
}

# redis-cli --pipe, then a SUBSCRIBE connection held while PUBLISH runs
case_redis() {
	srv redis-server --bind $B --port 7013 --save '' --appendonly no --protected-mode no
	wait_port 7013
	local i
	for i in $(seq 1 20000); do printf 'SET k%d v%d\r\n' $i $i; done >"$D/pipe.txt"
	timeout $T "${C[@]}" redis-cli -h $B -p 7013 --pipe <"$D/pipe.txt" | tail -1
	timeout $T "${C[@]}" redis-cli -h $B -p 7013 DBSIZE
	timeout 10 "${C[@]}" redis-cli -h $B -p 7013 SUBSCRIBE ch >"$D/sub.out" &
	local sp=$!
	sleep 1
	for i in 1 2 3; do
		timeout 5 "${C[@]}" redis-cli -h $B -p 7013 PUBLISH ch msg$i
		sleep 0.3
	done
	timeout 10 "${C[@]}" redis-cli -h $B -p 7013 MONITOR >"$D/mon.out" &
	local mp=$!
	sleep 1
	timeout 5 "${C[@]}" redis-cli -h $B -p 7013 GET k7
	sleep 1
	kill $sp $mp 2>/dev/null
	wait $sp $mp 2>/dev/null
	cat "$D/sub.out"
	grep -c '"GET" "k7"' "$D/mon.out"
}

# memcached with a python client (set/get many, a large value)
case_memcached() {
	srv memcached -u root -l $B -p 7014 -U 0 -m 64 -I 2m
	wait_port 7014
	timeout $T "${C[@]}" /usr/bin/python3 "$XL_TOP_SRCDIR/tests/survey/pyprogs.py" \
		client memcached $B 7014 ""
	echo "memcached rc=$?"
}

# a node program: net server/client, 20 MB each way
case_node() {
	command -v node >/dev/null || { echo no node; return 0; }
	srv node "$XL_TOP_SRCDIR/tests/survey/node.js" server $B 7015 "$D/www/big.bin"
	wait_port 7015
	timeout $T "${C[@]}" node "$XL_TOP_SRCDIR/tests/survey/node.js" client $B 7015 "$D/www/big.bin"
	echo "node rc=$?"
}

# errors a client sees: a refused connection, a peer that resets
case_refused() {
	timeout $T "${C[@]}" curl -sS http://$B:7099/ 2>&1
	echo "curl rc=$?"
	timeout $T "${C[@]}" nc -z -w 2 $B 7099 2>&1
	echo "nc rc=$?"
	timeout $T "${C[@]}" /usr/bin/python3 -c '
import socket, sys
try:
    socket.create_connection((sys.argv[1], 7099), timeout=5)
except OSError as e:
    print(type(e).__name__, e.errno)' $B
	# a server that resets: SO_LINGER 0 close after reading a line
	srv /usr/bin/python3 -c '
import socket, struct, sys
l = socket.create_server((sys.argv[1], 7098), reuse_port=True)
while True:
    c, _ = l.accept()
    c.recv(100)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()' $B
	wait_port 7098
	timeout $T "${C[@]}" /usr/bin/python3 -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], 7098), timeout=5)
s.sendall(b"x\n")
time.sleep(0.5)
try:
    print("recv", s.recv(10))
    s.sendall(b"y" * 100000)
    print("send ok")
except OSError as e:
    print(type(e).__name__, e.errno)' $B
}

nginx_conf
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(socat_up socat_down nc curl_pyhttp curl_nginx ab
	git rsync ssh py_asyncio py_selectors py_sockall py_sendfile
	py_forking py_threading iperf3 sockperf redis memcached node refused)
for c in "${CASES[@]}"; do
	run_case "$c"
done
printf '%s\n' "${ROWS[@]}" | tee "$SURVEY_OUT/table.txt"
