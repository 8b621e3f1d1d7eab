#!/usr/bin/env bash
# 40-nginx — issue 5, must-show 1: nginx (epoll, accept4, writev, sendfile)
# serving a 50 MB static file to curl, both preloaded: sha256 equal, both
# logs say secured; then 200 small requests over keep-alive (one curl with
# 200 URLs, one connection reused), zero errors.
#
# nginx runs with master_process on: the master listens and forks workers,
# which accept — connections are decided in the worker after accept, so the
# fork happens before any connection exists.
. "$(dirname "$0")/lib.sh"
require_lib
need_pkg nginx nginx-light
need_pkg curl curl
require_no_system_policy

PORT=$(free_port)
mkdir -p "$T/www" "$T/logs" "$T/tmp"
make_data "$T/www/big.bin" $((50 * 1024 * 1024))
for i in $(seq 1 200); do printf 'small %03d\n' "$i" >"$T/www/s$i.txt"; done
USER_LINE=
[ "$(id -u)" = 0 ] && USER_LINE="user $(id -un);"
cat >"$T/nginx.conf" <<CONF
$USER_LINE
daemon off;
master_process on;
worker_processes 2;
pid $T/nginx.pid;
error_log $T/logs/error.log warn;
# nginx empties the environment of its workers except what "env" keeps.
env LD_PRELOAD;
env SECSOCK_LOG;
env SECSOCK_LOG_FILE;
env SECSOCK_POLICY;
events { use epoll; worker_connections 256; }
http {
	log_format conn '\$status \$connection \$connection_requests';
	access_log $T/logs/access.log conn;
	client_body_temp_path $T/tmp;
	proxy_temp_path $T/tmp;
	fastcgi_temp_path $T/tmp;
	uwsgi_temp_path $T/tmp;
	scgi_temp_path $T/tmp;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000;
	default_type application/octet-stream;
	server {
		listen 127.0.0.1:$PORT;
		root $T/www;
	}
}
CONF
start_bg nginx preload "$T/server.log" nginx -p "$T" -c "$T/nginx.conf"
NGINX_PID=$BG_PID
wait_listen "$PORT" 10 "$NGINX_PID" || bail "nginx did not listen on $PORT" "$T/nginx.err" "$T/logs/error.log"

# 1. the 50 MB file
TMO=50 preload "$T/client.log" curl -sS --fail -o "$T/got.bin" "http://127.0.0.1:$PORT/big.bin" \
	2>"$T/curl.err"
check "curl downloaded big.bin (exit 0)" [ $? -eq 0 ]
assert_same_file "$T/got.bin" "$T/www/big.bin" "50 MB over nginx sendfile: byte-exact"
assert_grep "secured outbound 127.0.0.1:[0-9]+ -> 127.0.0.1:$PORT " "$T/client.log" "curl's log: secured outbound"
wait_grep "secured inbound 127.0.0.1:$PORT <- " "$T/server.log" 5
assert_grep "secured inbound 127.0.0.1:$PORT <- " "$T/server.log" "nginx's log: secured inbound"

# 2. 200 small requests on one keep-alive connection
URLS=()
for i in $(seq 1 200); do URLS+=("http://127.0.0.1:$PORT/s$i.txt"); done
: >"$T/client2.log"
TMO=50 preload "$T/client2.log" curl -sS --fail -w '%{http_code}\n' \
	-o /dev/null "${URLS[@]}" >"$T/codes.txt" 2>"$T/curl2.err"
check "curl 200 keep-alive requests (exit 0)" [ $? -eq 0 ]
assert_eq "$(grep -c '^200$' "$T/codes.txt")" 200 "200 responses with status 200" "$T/curl2.err"
# nginx logs the connection serial number per request: one for all 200.
assert_eq "$(awk 'NR > 1 {print $2}' "$T/logs/access.log" | sort -u | wc -l)" 1 "one connection for all 200 (keep-alive)" "$T/logs/access.log"
assert_eq "$(tail -n1 "$T/logs/access.log" | awk '{print $3}')" 200 "the last request was the 200th on its connection"
assert_count "secured outbound" "$T/client2.log" 1 "one secured connection in curl's log"
assert_eq "$(grep -c '^200 ' "$T/logs/access.log")" 201 "nginx access log: 201 requests answered 200"
assert_no_grep "\[(alert|crit|emerg)\]" "$T/logs/error.log" "nginx error log: no alerts"
assert_no_grep "torn down|refused|error:" "$T/server.log" "nginx's secsock log: nothing torn down or refused"

kill -QUIT "$(cat "$T/nginx.pid")" 2>/dev/null
wait_gone "$NGINX_PID" 10 || fail "nginx stopped on SIGQUIT"
finish
