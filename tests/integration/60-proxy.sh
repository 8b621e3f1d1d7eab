#!/usr/bin/env bash
# 60-proxy — issue 11 item 1: a relaying proxy must not truncate responses.
# A preloaded HTTP/1.0 backend sends a 2 MB body (Content-Length) and closes;
# a preloaded epoll proxy in front of it connects with a non-blocking connect
# (the first contact handshakes in connect, later ones in the background);
# curl, plain and preloaded, fetches through the proxy 20 times each: every
# body byte-exact, the proxy's outbound leg secured.
#   a. nginx (proxy_pass): upstream reads under EPOLLET|EPOLLRDHUP, where a
#      read returning less than asked means "drained" — the unfixed library
#      returned one record per read with more queued, and nginx waited for
#      an edge that never came (proxy_read_timeout, body short);
#   b. haproxy (mode http): the same short-read rule, and once the FIN is in
#      it declares EOF — the unfixed library cut 4-25% off every body.
#   c. the rule itself, without a proxy: a python3 epoll reader that reads
#      like them (EPOLLET, recv(SIZE) until it returns less than SIZE; after
#      RDHUP a short read is the end) against a sender of 1 MB in writes of
#      100000 or 1000 bytes, then close; SIZE 200 (the peek path), 20000
#      and 65536 (the take path).  The unfixed library lost 4-95% with
#      20000 and 65536.
# A proxy that stalls is bounded by its own timeouts (5 s) and curl's
# --max-time; a client kind stops after 3 failed requests.
. "$(dirname "$0")/lib.sh"
require_lib
need_pkg nginx nginx-light
need_pkg haproxy haproxy
need_pkg curl curl
require_no_system_policy

BPORT=$(free_port)
mkdir -p "$T/logs" "$T/tmp"
make_data "$T/body.bin" $((2 * 1024 * 1024))
cat >"$T/backend.py" <<'PY'
# HTTP/1.0 backend, one thread per connection: a 2 MB body, then close.
import socket, sys, threading
body = open(sys.argv[2], "rb").read()
ls = socket.socket()
ls.bind(("127.0.0.1", int(sys.argv[1])))
ls.listen(64)
def serve(c):
    with c:
        req = b""
        while b"\r\n\r\n" not in req:
            b = c.recv(65536)
            if not b:
                return
            req += b
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
start_bg backend preload "$T/backend.log" "$PY" "$T/backend.py" "$BPORT" "$T/body.bin"
wait_listen "$BPORT" 10 "$BG_PID" || bail "backend did not listen on $BPORT" "$T/backend.err"

# fetch_all NAME PORT: 20 fetches with plain curl, 20 with preloaded curl;
# one check per client kind (all 20 byte-exact).
fetch_all() {
	local name=$1 port=$2 kind i ok bad h want
	want=$(sha256sum <"$T/body.bin" | cut -d' ' -f1)
	for kind in plain preload; do
		ok=0 bad=0
		: >"$T/$name-$kind.err"
		for i in $(seq 1 20); do
			rm -f "$T/got.bin"
			if [ "$kind" = plain ]; then
				plain curl -sS --max-time 15 -o "$T/got.bin" "http://127.0.0.1:$port/body" 2>>"$T/$name-$kind.err"
			else
				TMO=20 preload "$T/$name-curl.log" curl -sS --max-time 15 -o "$T/got.bin" \
					"http://127.0.0.1:$port/body" 2>>"$T/$name-$kind.err"
			fi
			h=$(sha256sum <"$T/got.bin" 2>/dev/null | cut -d' ' -f1)
			if [ "$h" = "$want" ]; then
				ok=$((ok + 1))
			else
				bad=$((bad + 1))
				echo "# $name, $kind curl, request $i: $(stat -c %s "$T/got.bin" 2>/dev/null || echo 0) of 2097152 bytes" \
					>>"$T/$name-$kind.err"
				[ "$bad" -ge 3 ] && break
			fi
		done
		assert_eq "$ok" 20 "$name, $kind curl: 20 bodies of 2 MB byte-exact" "$T/$name-$kind.err"
	done
}

# a. nginx
NPORT=$(free_port)
USER_LINE=
[ "$(id -u)" = 0 ] && USER_LINE="user $(id -un);"
cat >"$T/nginx.conf" <<CONF
$USER_LINE
daemon off;
master_process off;
pid $T/nginx.pid;
error_log $T/logs/error.log warn;
events { use epoll; worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $T/tmp;
	proxy_temp_path $T/tmp;
	fastcgi_temp_path $T/tmp;
	uwsgi_temp_path $T/tmp;
	scgi_temp_path $T/tmp;
	proxy_read_timeout 5s;
	server {
		listen 127.0.0.1:$NPORT;
		location / { proxy_pass http://127.0.0.1:$BPORT; }
	}
}
CONF
start_bg nginx preload "$T/nginx.log" nginx -p "$T" -c "$T/nginx.conf"
NGINX_PID=$BG_PID
wait_listen "$NPORT" 10 "$NGINX_PID" || bail "nginx did not listen on $NPORT" "$T/nginx.err" "$T/logs/error.log"
fetch_all nginx "$NPORT"
assert_grep "secured outbound 127.0.0.1:[0-9]+ -> 127.0.0.1:$BPORT " "$T/nginx.log" "nginx's upstream leg secured"
assert_no_grep "upstream (timed out|prematurely closed)" "$T/logs/error.log" "nginx error log: no upstream timeout or premature close"
stop_pid "$NGINX_PID"

# b. haproxy
HPORT=$(free_port)
cat >"$T/haproxy.cfg" <<CFG
global
	maxconn 256
defaults
	mode http
	timeout connect 5s
	timeout client 5s
	timeout server 5s
frontend fe
	bind 127.0.0.1:$HPORT
	default_backend be
backend be
	server s1 127.0.0.1:$BPORT
CFG
start_bg haproxy preload "$T/haproxy.log" haproxy -db -f "$T/haproxy.cfg"
HAPROXY_PID=$BG_PID
wait_listen "$HPORT" 10 "$HAPROXY_PID" || bail "haproxy did not listen on $HPORT" "$T/haproxy.err"
fetch_all haproxy "$HPORT"
assert_grep "secured outbound 127.0.0.1:[0-9]+ -> 127.0.0.1:$BPORT " "$T/haproxy.log" "haproxy's server leg secured"
stop_pid "$HAPROXY_PID"

# c. the short-read rule, with a reader that relies on it
cat >"$T/etread.py" <<'PY'
import hashlib, select, socket, sys, time
port, size = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port)); s.setblocking(False)
ep = select.epoll(); ep.register(s, select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET)
got, rdhup, deadline = bytearray(), False, time.monotonic() + 5
while time.monotonic() < deadline:
    for _, ev in ep.poll(1):
        rdhup = rdhup or bool(ev & (select.EPOLLRDHUP | select.EPOLLHUP))
        while True:
            try:
                b = s.recv(size)
            except BlockingIOError:
                break
            got += b
            if len(b) < size:   # short: drained (plain TCP's meaning)
                break
        if rdhup:
            deadline = 0
            break
print(len(got), hashlib.sha256(got).hexdigest())
PY
cat >"$T/sender.py" <<'PY'
import socket, sys
data = open(sys.argv[2], "rb").read(); chunk = int(sys.argv[3])
ls = socket.socket(); ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(8)
while True:
    c, _ = ls.accept()
    with c:
        for i in range(0, len(data), chunk):
            c.sendall(data[i:i + chunk])
PY
make_data "$T/m.bin" 1000000
WANT="1000000 $(sha256sum <"$T/m.bin" | cut -d' ' -f1)"
for chunk in 100000 1000; do
	SPORT=$(free_port)
	start_bg "sender$chunk" preload "$T/sender.log" "$PY" "$T/sender.py" "$SPORT" "$T/m.bin" "$chunk"
	SENDER_PID=$BG_PID
	wait_listen "$SPORT" 10 "$SENDER_PID" || bail "sender did not listen on $SPORT" "$T/sender$chunk.err"
	for size in 200 20000 65536; do
		GOT=$(TMO=20 preload "$T/etread.log" "$PY" "$T/etread.py" "$SPORT" "$size" 2>"$T/etread.err")
		assert_eq "$GOT" "$WANT" "EPOLLET reader, recv($size) until short, sender's writes of $chunk: 1 MB byte-exact" "$T/etread.err"
	done
	stop_pid "$SENDER_PID"
done
assert_grep "secured outbound" "$T/etread.log" "the reader's connections were secured"

assert_no_grep "torn down|refused|error:" "$T/backend.log" "backend's secsock log: nothing torn down or refused"
finish
