# ucspi-tcp's tcpserver: inetd-style, forks and execs the handler (a shell
# running sed, which execs again) with the connection as fd 0 and fd 1.
# Client: nc -N.
NAME=tcpserver
DESC="ucspi-tcp tcpserver sh -c 'exec sed' / nc -N"
KIND="inetd-style exec hand-off"
PKGS="ucspi-tcp netcat-openbsd"
prog_run() {
	local p
	p=$(free_port)
	srv_bg tcpserver tcpserver -q -R -H 127.0.0.1 "$p" sh -c 'exec sed -u s/^/line:/'
	listen_or_bail "$p" "$BG_PID" tcpserver
	tap_to "$p"
	make_want 100000
	sed 's/^/line:/' "$T/want" >"$T/want.sed"
	cli nc -N 127.0.0.1 "$TAP_PORT" <"$T/want" >"$T/got" || return 1
	mv "$T/want.sed" "$T/want"
}
