# haproxy (epoll, non-blocking connect on both sides) in tcp mode in front
# of python3 http.server (2 MB body, then close); client wget.  Both legs tapped.
NAME=haproxy
DESC="haproxy mode tcp -> python3 http.server / wget"
KIND="proxy, event loop (epoll), non-blocking connect"
PKGS="haproxy python3 wget"
prog_run() {
	local b p
	b=$(free_port)
	mkdir -p "$T/www"
	make_want 2000000
	cp "$T/want" "$T/www/f.txt"
	srv_bg http "$PY" -m http.server --bind 127.0.0.1 -d "$T/www" "$b"
	listen_or_bail "$b" "$BG_PID" http
	tap_to "$b"
	p=$(free_port)
	cat >"$T/haproxy.cfg" <<CONF
global
	maxconn 100
defaults
	mode tcp
	timeout connect 10s
	timeout client 30s
	timeout server 30s
frontend fe
	bind 127.0.0.1:$p
	default_backend be
backend be
	server s1 127.0.0.1:$TAP_PORT
CONF
	srv_bg haproxy haproxy -db -f "$T/haproxy.cfg"
	listen_or_bail "$p" "$BG_PID" haproxy
	tap_to "$p"
	cli wget -q -O "$T/got" "http://127.0.0.1:$TAP_PORT/f.txt"
}
