#!/usr/bin/env bash
# 49-stdio.sh — a secured socket never carries plaintext, even when the
# program talks through stdio: glibc's FILE I/O uses internal calls no
# preload can interpose (preload/pre_stdio.c routes it through secsock).
#  a) fdopen(sock) + fgets/fprintf + fclose;
#  b) dup2(sock, 0/1) + fgets(stdin) + printf + exit() (glibc's exit flush);
#  c) inetd-style accept → fork → exec of coreutils printf (stdio) with the
#     socket as stdout: the exec'd image's stdout is secured.
# Each: the preloaded client reads the marker; a recording relay never sees it.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools stdio_peer life_peer ss_relay
require_cmd socat
require_no_system_policy
unset POLICY

MARK="stdio-marker-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# run_case NAME SERVER-ARGV... : server preloaded behind a recording relay;
# the preloaded client sends one line and reads everything back.
run_case() {
	local name=$1; shift
	local port
	port=$(free_port)
	start_bg "srv-$name" preload "$T/srv-$name.log" "$@" "$port"
	local spid=$BG_PID
	wait_listen "$port" 10 "$spid" || bail "$name: server did not listen" "$T/srv-$name.err"
	start_relay "relay-$name" 127.0.0.1 127.0.0.1 "$port"
	echo "hello from the client" | TMO=20 preload "$T/cli-$name.log" \
		socat -t 5 - "TCP4:127.0.0.1:$RELAY_PORT" >"$T/$name.out" 2>"$T/$name.err"
	assert_grep "$MARK" "$T/$name.out" "$name: the client received the marker line" \
		"$T/$name.err" "$T/srv-$name.log"
	assert_grep 'info: secured' "$T/cli-$name.log" "$name: the connection was secured"
	wait_gone "$spid" 10
	stop_pid "$RELAY_PID"
	if "$PY" "$WIRECHECK" --c2s "$T/relay-$name/conn-1.c2s" --s2c "$T/relay-$name/conn-1.s2c" \
		--marker "$MARK" >"$T/wire-$name.txt"; then
		pass "$name: wire is TLS records only, marker absent both ways"
	else
		fail "$name: wire check (plaintext on a secured socket?)" "$T/wire-$name.txt"
	fi
}

# stdio_peer takes MODE PORT MARK; run_case appends PORT last, so wrap it.
stdio_fdopen() { "$TOOLS/stdio_peer" fdopen "$1" "$MARK"; }
stdio_dup2() { "$TOOLS/stdio_peer" dup2 "$1" "$MARK"; }
export -f stdio_fdopen stdio_dup2
export TOOLS MARK

run_case fdopen bash -c 'stdio_fdopen "$0"'
run_case dup2 bash -c 'stdio_dup2 "$0"'
# c) the handler is coreutils printf: stdio on an inherited secured stdout.
run_case exec-printf bash -c 'exec "$TOOLS/life_peer" inetd "$0" 1 /usr/bin/printf "printf says %s\n" "$MARK"'

finish
