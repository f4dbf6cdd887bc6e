#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Survey reproducer: ab without keep-alive (one connection per request)
# against nginx in guest b, the library nowhere ("plain") or in nginx only
# ("server"), alternated N times (default 3); prints requests per second.
# MODES picks others (both, client). By hand, as root.
set -uo pipefail
XL_TOP_SRCDIR=${XL_TOP_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$XL_TOP_SRCDIR/tests/e2e/data-lib.sh"
set +e
[ -n "${SURVEY_REGISTER_DELAY_US:-}" ] &&
	export XENLOOP_REGISTER_DELAY_US=$SURVEY_REGISTER_DELAY_US ||
	unset XENLOOP_REGISTER_DELAY_US
xl_data_setup
W=$XL_RUNDIR/ngx
mkdir -p "$W/tmp" "$W/www"
echo hello >"$W/www/small.txt"
cat >"$W/nginx.conf" <<EOC
daemon off;
worker_processes 2;
user root root;
pid $W/nginx.pid;
error_log $W/error.log;
events { worker_connections 512; }
http {
	access_log off;
	client_body_temp_path $W/tmp; proxy_temp_path $W/tmp;
	fastcgi_temp_path $W/tmp; uwsgi_temp_path $W/tmp; scgi_temp_path $W/tmp;
	server { listen $XL_ADDR_B:7006; root $W/www; }
}
EOC
pre() { # pre MODE SIDE: the command prefix of SIDE (a or b) in MODE
	local ns=$XL_NS_A
	[ "$2" = b ] && ns=$XL_NS_B
	case "$1:$2" in
	both:*|client:a|server:b) xl_shim_argv "$ns" tool ;;
	*) XL_ARGV=(ip netns exec "$ns") ;;
	esac
}
for i in $(seq 1 "${N:-3}"); do
	for m in ${MODES:-plain server}; do
		pre "$m" b
		xl_bg timeout 120 "${XL_ARGV[@]}" nginx -e "$W/error.log" -p "$W" -c "$W/nginx.conf"
		xl_wait_for 10 sh -c "ip netns exec $XL_NS_B ss -Hltn 'sport = :7006' | grep -q ."
		pre "$m" a
		echo "$m: $(timeout 60 "${XL_ARGV[@]}" ab -q -n ${REQS:-5000} -c 8 \
			http://$XL_ADDR_B:7006/small.txt 2>&1 | grep -E 'Requests per|Failed')"
		kill "$XL_LAST_PID"; wait "$XL_LAST_PID"
	done
done
