# redis-server (its own epoll event loop) / redis-cli: SET a 200 kB value
# with the marker, GET it back.
NAME=redis
DESC="redis-server / redis-cli"
KIND="event loop (ae/epoll), database"
PKGS="redis-server redis-tools"
QUICK=1
# KNOWN.md #1: hiredis's non-blocking connect probes a server that reads the
# ClientHello as an unfinished inline command: 4 x 10 s, then EINPROGRESS.
XFAIL_cli="redis-cli alone: 4 probes of 10 s each, then 'Could not connect: Operation now in progress' (KNOWN.md #1)"
prog_run() {
	local p
	p=$(free_port)
	srv_bg redis redis-server --bind 127.0.0.1 --port "$p" --save '' --appendonly no --dir "$T"
	listen_or_bail "$p" "$BG_PID" redis
	tap_to "$p"
	printf '%s' "$MARKER$(head -c 150000 /dev/urandom | base64 -w0)" >"$T/val"
	{ cat "$T/val"; echo; } >"$T/want"
	cli redis-cli -h 127.0.0.1 -p "$TAP_PORT" -x SET k <"$T/val" >/dev/null || return 1
	cli redis-cli -h 127.0.0.1 -p "$TAP_PORT" --raw GET k >"$T/got"
}
