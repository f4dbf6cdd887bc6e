#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Unmodified nginx (a master and two worker processes, epoll, sendfile)
# in guest b serving a private root with a private configuration, curl
# (and wrk when installed) in guest a, in each mode of app-lib.sh (plain,
# library at both ends, client only, server only):
#   - a 64 MiB file of random bytes, and a range of it;
#   - 40 small files (1 byte to 200 kB) in one curl invocation (one
#     keep-alive connection), then again each with "Connection: close";
#   - a missing file (404) between two small ones;
#   - wrk, 3 s on a small file: no socket error, every answer 200.
# Each transfer's status, size, the number of connections curl opened for
# it and the sha256 of what came must be what the plain run got (and the
# files' own sha256 in the plain run). With the library at both ends at
# least 99% of each step's payload must go by the rings, and none with
# the library at one end only.
. "${XL_TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/app-lib.sh"

xl_require_cmd nginx curl sha256sum
app_require_preloadable curl
PORT=8080
NSMALL=40
app_setup nginx
WWW=$APP_DIR/www
mkdir -p "$WWW/s" "$APP_DIR/tmp"
# large enough that the first milliseconds of a download, which go by TCP
# until the connection's channel comes (a sendfile() call can move a
# megabyte), stay well under 1% of it
head -c $((256 << 20)) /dev/urandom >"$WWW/big.bin"
for i in $(seq 1 $NSMALL); do
	head -c $(((i * i * 125) % 200000 + 1)) /dev/urandom >"$WWW/s/$i.bin"
done
(cd "$WWW" && sha256sum big.bin s/*.bin) >"$APP_DIR/www.sha256"

cat >"$APP_DIR/nginx.conf" <<EOF
# the test's own: nothing from /etc/nginx, every file in the run dir
daemon off;
master_process on;
worker_processes 2;
user root root;
pid $APP_DIR/nginx.pid;
error_log $APP_DIR/error.log info;
events {
	worker_connections 512;
}
http {
	types {
		application/octet-stream bin;
	}
	default_type application/octet-stream;
	access_log $APP_DIR/access.log;
	client_body_temp_path $APP_DIR/tmp/body;
	proxy_temp_path $APP_DIR/tmp/proxy;
	fastcgi_temp_path $APP_DIR/tmp/fastcgi;
	uwsgi_temp_path $APP_DIR/tmp/uwsgi;
	scgi_temp_path $APP_DIR/tmp/scgi;
	sendfile on;
	tcp_nopush on;
	keepalive_timeout 30;
	keepalive_requests 1000;
	server {
		listen $XL_ADDR_B:$PORT;
		root $WWW;
	}
}
EOF
ip netns exec "$XL_NS_B" nginx -t -q -e "$APP_DIR/error.log" -p "$APP_DIR" -c "$APP_DIR/nginx.conf" ||
	xl_fail "nginx refuses the configuration: $(cat "$APP_DIR/error.log")"

URL=http://$XL_ADDR_B:$PORT
# curl's account of each transfer: status, bytes, connections it opened
FMT='%{http_code} %{size_download} %{num_connects}\n'

# get MODE NAME CURL_ARGS...: one curl invocation into $APP_DIR/MODE.NAME/,
# its -w lines, then the sha256 of each file it wrote, into the transcript
get() {
	local mode=$1 name=$2 dir=$APP_DIR/$1.$2
	shift 2
	mkdir -p "$dir"
	echo "$name:" >>"$APP_DIR/$mode.out"
	(cd "$dir" && app_cli "$mode" 60 curl -sS --no-progress-meter \
		--max-time 40 -w "$FMT" "$@") >>"$APP_DIR/$mode.out" \
		2>"$dir.err" || {
		app_bad "$mode" "$name: curl failed: $(head -c 500 "$dir.err")" \
			"nginx's log: $(grep -v '\[info\]' "$APP_DIR/error.log" |
			tail -n 5)"
		return 1
	}
	(cd "$dir" && sha256sum -- *) >>"$APP_DIR/$mode.out"
	rm -rf "$dir"
}

nginx_mode() {
	local mode=$1 i small=() rc=0
	app_srv "$mode" 120 nginx -e "$APP_DIR/error.log" -p "$APP_DIR" \
		-c "$APP_DIR/nginx.conf"
	app_srv_wait $PORT 15 || {
		app_bad "$mode" "nginx does not listen:" \
			"$(tail -n 5 "$APP_DIR/error.log")"
		return 1
	}
	: >"$APP_DIR/$mode.out"
	for i in $(seq 1 $NSMALL); do
		small+=("$URL/s/$i.bin" -o "$i.bin")
	done
	get "$mode" big "$URL/big.bin" -o big.bin || rc=1
	get "$mode" range -r 1000-160000999 "$URL/big.bin" -o range.bin || rc=1
	app_step "$mode" "the large file"
	get "$mode" keepalive "${small[@]}" || rc=1
	get "$mode" missing "$URL/s/1.bin" -o 1.bin "$URL/nothing" \
		-o nothing "$URL/s/2.bin" -o 2.bin || rc=1
	app_step "$mode" "small files, keep-alive"
	get "$mode" close -H "Connection: close" "${small[@]}" || rc=1
	app_step "$mode" "small files, Connection: close" short
	if command -v wrk >/dev/null; then
		app_cli "$mode" 30 wrk -t 2 -c 32 -d 3s "$URL/s/5.bin" \
			>"$APP_DIR/$mode.wrk" 2>&1 || rc=1
		app_log "$mode: wrk: $(grep -E 'Requests/sec|requests in' \
			"$APP_DIR/$mode.wrk" | tr -s ' \n' ' ')"
		if [ $rc = 1 ] || grep -qE 'Socket errors|Non-2xx' \
			"$APP_DIR/$mode.wrk" ||
			! grep -qE '^ +[1-9][0-9]* requests in' "$APP_DIR/$mode.wrk"
		then
			app_bad "$mode" "wrk: $(cat "$APP_DIR/$mode.wrk")"
			rc=1
		fi
		app_step "$mode" "wrk" timed
	fi
	app_srv_stop
	return $rc
}

app_run_modes_check() {
	# the plain run got the files themselves, and the keep-alive transfers
	# shared one connection while "Connection: close" opened one each
	grep -qxF "$(grep ' big.bin$' "$APP_DIR/www.sha256")" \
		"$APP_DIR/plain.out" ||
		xl_fail "plain: the large file differs from the original"
	for i in $(seq 1 $NSMALL); do
		grep -qF "$(grep " s/$i.bin\$" "$APP_DIR/www.sha256" |
			cut -d' ' -f1)  $i.bin" "$APP_DIR/plain.out" ||
			xl_fail "plain: s/$i.bin differs from the original"
	done
	[ "$(sed -n '/^keepalive:/,/^missing:/p' "$APP_DIR/plain.out" |
		awk '$1 == 200 { n += $3 } END { print n }')" = 1 ] ||
		xl_fail "plain: keep-alive did not keep one connection"
	[ "$(sed -n '/^close:/,$p' "$APP_DIR/plain.out" |
		awk '$1 == 200 { n += $3 } END { print n }')" = $NSMALL ] ||
		xl_fail "plain: Connection: close kept connections open"
	grep -q '^404 ' "$APP_DIR/plain.out" || xl_fail "plain: no 404"
}

app_run_modes nginx_mode app_run_modes_check
