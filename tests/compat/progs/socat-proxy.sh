# socat as a fork-per-connection TCP proxy (TCP-LISTEN,fork -> TCP: connect
# on the outbound leg) in front of a perl echo backend; client nc -N.  Both
# legs are tapped.
NAME=socat-proxy
DESC="socat TCP-LISTEN,fork -> TCP proxy / nc -N"
KIND="proxy, fork-per-connection"
PKGS="socat netcat-openbsd perl"
QUICK=1
prog_run() {
	local b p
	b=$(free_port)
	perl_echo "$b"
	tap_to "$b"
	p=$(free_port)
	srv_bg socat socat "TCP-LISTEN:$p,bind=127.0.0.1,fork,reuseaddr" "TCP:127.0.0.1:$TAP_PORT"
	listen_or_bail "$p" "$BG_PID" socat
	tap_to "$p"
	make_want 400000
	cli nc -N 127.0.0.1 "$TAP_PORT" <"$T/want" >"$T/got" || return 1
	cli nc -N 127.0.0.1 "$TAP_PORT" <"$T/want" >"$T/got.2" && cmp "$T/got.2" "$T/want"
}
