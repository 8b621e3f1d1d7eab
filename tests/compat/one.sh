#!/usr/bin/env bash
# one.sh PROGFILE MODE — one row cell of `make compat` (tests/compat/README.md).
#
# MODE: plain (nothing preloaded: the baseline, and proof that the marker is
# visible on the wire when nothing secures it), both (server and client
# preloaded), srv (server side alone), cli (client side alone).  Every
# connection goes through the recording tap (tests/tools/tap.py).  The
# program file defines prog_run, which starts the server side with srv_bg,
# taps it with tap_to, runs the client side with cli (timed), and leaves the
# application's result in $T/got and what it must be in $T/want.
# Prints one last line: "RESULT PASS|FAIL CLIENT_SECONDS WHY".
. "$(dirname "$0")/../integration/lib.sh"
PROG=$1 MODE=$2
TAPPY=$REPO/tests/tools/tap.py
COMPAT_CACHE=${COMPAT_CACHE:-$BUILD/compat}
MARKER="SECSOCK-COMPAT-MARKER-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
export MARKER
case $MODE in
plain) SRV_PRE=0 CLI_PRE=0 ;;
both) SRV_PRE=1 CLI_PRE=1 ;;
srv) SRV_PRE=1 CLI_PRE=0 ;;
cli) SRV_PRE=0 CLI_PRE=1 ;;
*) bail "unknown mode $MODE" ;;
esac
: >"$T/srv.log"
: >"$T/cli.log"
: >"$T/client.ms"
mkdir -p "$T/wire"
TAPS=0

# srv_bg NAME CMD...: a server-side process, preloaded when this mode says so.
srv_bg() {
	local n=$1
	shift
	if [ "$SRV_PRE" = 1 ]; then start_bg "$n" preload "$T/srv.log" "$@"; else start_bg "$n" plain "$@"; fi
}
# srv_env: the environment prefix for server-side programs a script starts itself.
srv_env() {
	if [ "$SRV_PRE" = 1 ]; then local PL; preload_argv "$T/srv.log"; printf '%s\n' "${PL[@]}"
	else printf '%s\n' env -u LD_PRELOAD -u SECSOCK_POLICY; fi
}
# cli CMD...: a client-side command (time-limited by TMO), preloaded when the
# mode says so; its wall time is added to the row's client time.
cli() {
	local t0 rc
	t0=$(ms_now)
	if [ "$CLI_PRE" = 1 ]; then preload "$T/cli.log" "$@"; else plain "$@"; fi
	rc=$?
	echo $(($(ms_now) - t0)) >>"$T/client.ms"
	return $rc
}
# tap_to TPORT [LHOST [LPORT]]: a recording tap in front of 127.0.0.1:TPORT; sets TAP_PORT.
tap_to() {
	TAPS=$((TAPS + 1))
	local d="$T/wire/tap$TAPS"
	mkdir -p "$d"
	start_bg "tap$TAPS" plain "$PY" "$TAPPY" relay "$d" "${2:-127.0.0.1}" "${3:-0}" 127.0.0.1 "$1"
	wait_file "$d/port" 10 || bail "tap $TAPS did not start" "$T/tap$TAPS.err"
	TAP_PORT=$(cat "$d/port")
}
# listen_or_bail PORT PID NAME [FILES...]
listen_or_bail() {
	local p=$1 pid=$2 n=$3
	shift 3
	wait_listen "$p" 20 "$pid" || { echo "RESULT FAIL - $n did not listen on $p"; bail "$n did not listen" "$T/$n.err" "$@"; }
}

# perl_echo PORT: a plain fork-per-connection echo backend on 127.0.0.1:PORT,
# server side (for the proxies and hand-offs that need one behind them).
perl_echo() {
	srv_bg "echo$1" perl -MIO::Socket::INET -e '
		$SIG{CHLD} = "IGNORE";
		my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0],
			Listen => 64, ReuseAddr => 1) or die "listen: $!";
		while (1) { my $c = $l->accept or next;
			if (fork == 0) { close $l; my $b; while (sysread($c, $b, 65536)) { syswrite($c, $b) } exit 0 }
			close $c }' "$1"
	listen_or_bail "$1" "$BG_PID" "echo$1"
}
# make_want BYTES: $T/want, a marker line then BYTES of base64 text.
make_want() {
	{ echo "$MARKER"; head -c "$1" /dev/urandom | base64; } >"$T/want"
}

. "$PROG"
mkdir -p "$COMPAT_CACHE/$NAME"
CACHE=$COMPAT_CACHE/$NAME
TMO=${TMO:-40}
why=""
if ! prog_run >"$T/run.out" 2>&1; then
	why="client failed: $(grep -v '^ok -' "$T/run.out" | tail -n 2 | tr '\n' ' ' | cut -c1-150)"
fi
secs=$(awk '{s += $1} END {printf "%.2f", s / 1000}' "$T/client.ms")
if [ -z "$why" ]; then
	if [ ! -e "$T/got" ] || ! cmp -s "$T/got" "$T/want"; then
		why="result differs from expected ($(stat -c %s "$T/got" 2>/dev/null || echo no) vs $(stat -c %s "$T/want") bytes)"
	fi
fi
wire=$("$PY" "$TAPPY" $([ "$MODE" = both ] && echo check || echo clear) "$MARKER" "$T"/wire/tap* 2>&1)
echo "$wire" >"$T/wire.txt"
if [ -z "$why" ] && [ "$MODE" = both ] && ! tail -n1 "$T/wire.txt" | grep -q "all TLS"; then
	why="wire: $(tail -n1 "$T/wire.txt"); $(grep -m1 -E 'NOT-TLS|MARKER' "$T/wire.txt")"
fi
if [ -z "$why" ] && [ "$MODE" != both ] && ! tail -n1 "$T/wire.txt" | grep -q "on the wire"; then
	why="wire: $(tail -n1 "$T/wire.txt") (a one-sided run must fall back to clear)"
fi
sleep 0.2
case $MODE in
both)
	[ -n "$why" ] || grep -q "^.*secured outbound" "$T/cli.log" || why="client log: no 'secured outbound'"
	[ -n "$why" ] || grep -q "secured inbound" "$T/srv.log" || why="server log: no 'secured inbound'"
	;;
srv) [ -n "$why" ] || grep -Eq "clear (inbound|outbound)" "$T/srv.log" || why="server log: no 'clear inbound'" ;;
cli) [ -n "$why" ] || grep -Eq "clear (outbound|inbound)" "$T/cli.log" || why="client log: no 'clear outbound'" ;;
esac
if [ -n "$why" ]; then
	FAILS=1
	{ echo "== run.out"; cat "$T/run.out"; echo "== wire"; cat "$T/wire.txt"
	  echo "== srv.log"; tail -n 20 "$T/srv.log"; echo "== cli.log"; tail -n 20 "$T/cli.log"
	  for e in "$T"/*.err; do echo "== $e"; tail -n 10 "$e"; done; } >"$T/diag.txt" 2>&1
	echo "RESULT FAIL $secs $why [details: $T/diag.txt]"
	exit 1
fi
echo "RESULT PASS $secs $(tail -n1 "$T/wire.txt")"
exit 0
