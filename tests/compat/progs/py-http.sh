# python3 -m http.server (ThreadingHTTPServer: a thread per connection,
# HTTP/1.0: body then close); client curl.
NAME=py-http
DESC="python3 http.server (threaded) / curl"
KIND="threaded server, interpreter"
PKGS="python3 curl"
QUICK=1
prog_run() {
	local p
	p=$(free_port)
	mkdir -p "$T/www"
	make_want 2000000
	cp "$T/want" "$T/www/f.txt"
	srv_bg http "$PY" -m http.server --bind 127.0.0.1 -d "$T/www" "$p"
	listen_or_bail "$p" "$BG_PID" http
	tap_to "$p"
	cli curl -sS --fail -o "$T/got" "http://127.0.0.1:$TAP_PORT/f.txt"
}
