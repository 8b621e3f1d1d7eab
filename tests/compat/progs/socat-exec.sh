# socat EXEC: a daemon that accepts, forks and execs a handler with the
# connection as its stdin and stdout (the exec hand-off of issue 11, 2);
# handler: /bin/cat.  Client nc -N.
NAME=socat-exec
DESC="socat TCP-LISTEN,fork EXEC:cat / nc -N"
KIND="daemon exec hand-off"
PKGS="socat netcat-openbsd"
QUICK=1
prog_run() {
	local p
	p=$(free_port)
	srv_bg socat socat "TCP-LISTEN:$p,bind=127.0.0.1,fork,reuseaddr" EXEC:/bin/cat
	listen_or_bail "$p" "$BG_PID" socat
	tap_to "$p"
	make_want 200000
	cli nc -N 127.0.0.1 "$TAP_PORT" <"$T/want" >"$T/got"
}
