# lighttpd (single-process epoll event loop, sendfile) / wget.
NAME=lighttpd
DESC="lighttpd / wget"
KIND="event loop (epoll), sendfile"
PKGS="lighttpd wget"
prog_run() {
	local p
	p=$(free_port)
	mkdir -p "$T/www"
	make_want 3000000
	cp "$T/want" "$T/www/f.txt"
	cat >"$T/l.conf" <<CONF
server.document-root = "$T/www"
server.bind = "127.0.0.1"
server.port = $p
server.errorlog = "$T/l-error.log"
server.event-handler = "linux-sysepoll"
mimetype.assign = ( "" => "application/octet-stream" )
CONF
	srv_bg lighttpd lighttpd -D -f "$T/l.conf"
	listen_or_bail "$p" "$BG_PID" lighttpd "$T/l-error.log"
	tap_to "$p"
	cli wget -q -O "$T/got" "http://127.0.0.1:$TAP_PORT/f.txt"
}
