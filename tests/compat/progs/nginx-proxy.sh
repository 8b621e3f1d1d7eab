# nginx as a reverse proxy (epoll, non-blocking connect to the backend: the
# pattern of issue 11, 1) in front of python3 http.server sending a 2 MB
# body then closing; client curl.  Both legs tapped.
NAME=nginx-proxy
DESC="nginx proxy_pass -> python3 http.server / curl"
KIND="proxy, event loop (epoll), non-blocking connect"
PKGS="nginx-light python3 curl"
QUICK=1
prog_run() {
	local b p u=""
	b=$(free_port)
	mkdir -p "$T/www" "$T/ng/logs" "$T/ng/tmp"
	make_want 2000000
	cp "$T/want" "$T/www/f.txt"
	srv_bg http "$PY" -m http.server --bind 127.0.0.1 -d "$T/www" "$b"
	listen_or_bail "$b" "$BG_PID" http
	tap_to "$b"
	p=$(free_port)
	[ "$(id -u)" = 0 ] && u="user $(id -un);"
	cat >"$T/ng/nginx.conf" <<CONF
$u
daemon off; master_process on; worker_processes 1;
pid $T/ng/nginx.pid; error_log $T/ng/logs/error.log warn;
env LD_PRELOAD; env SECSOCK_LOG; env SECSOCK_LOG_FILE; env SECSOCK_POLICY;
events { use epoll; worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $T/ng/tmp; proxy_temp_path $T/ng/tmp; fastcgi_temp_path $T/ng/tmp;
	uwsgi_temp_path $T/ng/tmp; scgi_temp_path $T/ng/tmp;
	server { listen 127.0.0.1:$p; location / { proxy_pass http://127.0.0.1:$TAP_PORT; proxy_buffering off; } }
}
CONF
	srv_bg nginx nginx -p "$T/ng" -c "$T/ng/nginx.conf"
	listen_or_bail "$p" "$BG_PID" nginx "$T/ng/logs/error.log"
	tap_to "$p"
	cli curl -sS --fail -o "$T/got" "http://127.0.0.1:$TAP_PORT/f.txt" || return 1
	cli curl -sS --fail -o "$T/got.2" "http://127.0.0.1:$TAP_PORT/f.txt" && cmp "$T/got.2" "$T/want"
}
