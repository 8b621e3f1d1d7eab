#!/usr/bin/env bash
# 46-inetd.sh — issue 5, must-show 6: accept, fork, exec a handler with the
# socket as stdin/stdout (life_peer inetd; the handler is /bin/cat).
#  a) preloaded handler: the secured state follows the exec (memfd handoff,
#     matched by SO_COOKIE); the echo comes back intact, the recording relay
#     sees TLS records only and never the marker, EOF is clean both ways;
#  a2) the same with the connection secured before the exec (record state
#     and sequence numbers continue in the new image);
#  b) also through socat's own fork+exec (TCP-LISTEN,fork EXEC:/bin/cat);
#  c) a static handler (cc -static) cannot be preloaded: the connection is
#     shut down before the exec — the handler's clear marker never reaches
#     the wire, the client gets an error/EOF, never clear data.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools life_peer ss_relay
require_cmd socat cc
require_no_system_policy
unset POLICY

MARK="inetd-marker-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
{
	echo "first: $MARK"
	head -c 20000 /dev/urandom | base64
	echo "last: $MARK"
} >"$T/payload.txt"

# ---- a) life_peer inetd → exec /bin/cat
port=$(free_port)
start_bg inetd preload "$T/inetd.log" "$TOOLS/life_peer" inetd "$port" 1 /bin/cat
spid=$BG_PID
wait_listen "$port" 10 "$spid" || bail "inetd server did not listen" "$T/inetd.err"
start_relay relay-a 127.0.0.1 127.0.0.1 "$port"
TMO=30 preload "$T/client-a.log" socat -t 5 - "TCP4:127.0.0.1:$RELAY_PORT" <"$T/payload.txt" >"$T/a.echo" 2>"$T/a.err"
assert_same_file "$T/payload.txt" "$T/a.echo" "inetd+exec: the handler's echo equals the payload"
wait_gone "$spid" 10
assert_grep 'handlers_failed 0' "$T/inetd.out" "inetd+exec: handler exited 0" "$T/inetd.err" "$T/inetd.log"
assert_grep 'info: inherited undecided connection on fd 0' "$T/inetd.log" "inetd+exec: the exec'd image imported the connection"
assert_grep 'info: secured inbound' "$T/inetd.log" "inetd+exec: the handler (cat) did the handshake, secured"
assert_no_grep 'truncation|torn down' "$T/client-a.log" "inetd+exec: client saw a clean close_notify, no truncation"
stop_pid "$RELAY_PID"
if "$PY" "$WIRECHECK" --c2s "$T/relay-a/conn-1.c2s" --s2c "$T/relay-a/conn-1.s2c" --marker "$MARK" >"$T/wire-a.txt"; then
	pass "inetd+exec: wire is TLS 1.3 records only, marker absent both ways"
else
	fail "inetd+exec: wire check" "$T/wire-a.txt"
fi

# ---- a2) secured before the exec: the record state (sequence numbers) follows
port=$(free_port)
LIFE_READ_FIRST=1 start_bg inetd2 preload "$T/inetd2.log" "$TOOLS/life_peer" inetd "$port" 1 /bin/cat
spid=$BG_PID
wait_listen "$port" 10 "$spid" || bail "inetd server did not listen" "$T/inetd2.err"
TMO=30 preload "$T/client-a2.log" socat -t 5 - "TCP4:127.0.0.1:$port" <"$T/payload.txt" >"$T/a2.echo" 2>"$T/a2.err"
assert_same_file "$T/payload.txt" "$T/a2.echo" "secured, then exec: echo (first line by the server, rest by cat) equals the payload"
wait_gone "$spid" 10
assert_grep 'info: inherited secured connection on fd 0' "$T/inetd2.log" "secured, then exec: the record state was imported"
assert_no_grep 'truncation|torn down|rejected' "$T/client-a2.log" "secured, then exec: no record rejected, clean close_notify"

# ---- b) socat's fork + exec
port=$(free_port)
start_bg socatd preload "$T/socatd.log" socat "TCP4-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" EXEC:/bin/cat
spid=$BG_PID
wait_listen "$port" 10 "$spid" || bail "socat server did not listen" "$T/socatd.err"
start_relay relay-b 127.0.0.1 127.0.0.1 "$port"
TMO=30 preload "$T/client-b.log" socat -t 5 - "TCP4:127.0.0.1:$RELAY_PORT" <"$T/payload.txt" >"$T/b.echo" 2>"$T/b.err"
assert_same_file "$T/payload.txt" "$T/b.echo" "socat fork+EXEC:/bin/cat: echo equals the payload"
stop_pid "$RELAY_PID"
if "$PY" "$WIRECHECK" --c2s "$T/relay-b/conn-1.c2s" --s2c "$T/relay-b/conn-1.s2c" --marker "$MARK" >"$T/wire-b.txt"; then
	pass "socat fork+EXEC: wire is TLS 1.3 records only, marker absent"
else
	fail "socat fork+EXEC: wire check" "$T/wire-b.txt"
fi
stop_pid "$spid"

# ---- c) a static handler: shut down, never clear
if [ -e /usr/lib/x86_64-linux-gnu/libc.a ]; then
	cat >"$T/static_handler.c" <<CEOF
#include <string.h>
#include <unistd.h>
int main(void)
{
	char buf[4096];
	const char *m = "STATIC-CLEAR $MARK\n";
	ssize_t n = read(0, buf, sizeof buf);
	(void)n;
	if (write(1, m, strlen(m)) < 0)
		return 3;   /* expected: the socket was shut down */
	return 0;
}
CEOF
	cc -static -O1 -o "$T/static_handler" "$T/static_handler.c" || bail "cc -static failed"
	port=$(free_port)
	start_bg inetd-static preload "$T/static.log" "$TOOLS/life_peer" inetd "$port" 1 "$T/static_handler"
	spid=$BG_PID
	wait_listen "$port" 10 "$spid" || bail "inetd server did not listen" "$T/inetd-static.err"
	start_relay relay-c 127.0.0.1 127.0.0.1 "$port"
	echo "hello $MARK" | TMO=20 preload "$T/client-c.log" socat -t 3 - "TCP4:127.0.0.1:$RELAY_PORT" >"$T/c.out" 2>"$T/c.err"
	wait_gone "$spid" 10
	stop_pid "$RELAY_PID"
	assert_no_grep "STATIC-CLEAR" "$T/c.out" "static handler: client never received the handler's clear output"
	assert_no_grep "STATIC-CLEAR" "$T/relay-c/conn-1.s2c" "static handler: the clear marker never reached the wire"
	assert_grep 'LD_PRELOAD cannot reach it.*shut down' "$T/static.log" "static handler: logged and shut down before exec"
else
	pass "static handler: libc.a not installed, skipped # SKIP"
fi
finish
