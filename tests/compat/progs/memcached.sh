# memcached (libevent, worker threads) / libmemcached-tools memccp + memccat.
NAME=memcached
DESC="memcached / memccp + memccat"
KIND="event loop (libevent), threaded"
PKGS="memcached libmemcached-tools"
prog_run() {
	local p u=""
	p=$(free_port)
	[ "$(id -u)" = 0 ] && u="-u root"
	srv_bg memcached memcached $u -l 127.0.0.1 -p "$p" -U 0 -t 2
	listen_or_bail "$p" "$BG_PID" memcached
	tap_to "$p"
	make_want 300000
	cp "$T/want" "$T/k1"
	(cd "$T" && cli memccp --servers="127.0.0.1:$TAP_PORT" k1) || return 1
	cli memccat --servers="127.0.0.1:$TAP_PORT" k1 >"$T/got" || return 1
	# memccat ends the value with a newline of its own
	echo >>"$T/want"
}
