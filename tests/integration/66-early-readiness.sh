#!/usr/bin/env bash
# 66-early-readiness.sh — issue 11 item 6: bytes of a handshake never make
# a socket readable to the program.  A server that speaks first but first
# looks for early client input with a zero timeout (an SMTP server's
# pipelining check) must see none from a secsock client — the ClientHello
# is secsock's — and send its banner; before the fix it saw the ClientHello,
# read, and blocked while the client waited for the banner.  Once per
# readiness call: select pselect poll ppoll epoll.  Then the same server
# with a plain client that does speak early: the input is seen.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools sandbox_peer
require_no_system_policy
unset POLICY

for how in select pselect poll ppoll epoll; do
	port=$(free_port)
	start_bg "srv-$how" preload "$T/srv-$how.log" "$TOOLS/sandbox_peer" early "$port" "$how"
	spid=$BG_PID
	wait_listen "$port" 10 "$spid" || bail "$how server did not listen" "$T/srv-$how.err"
	TMO=8 preload "$T/cli-$how.log" "$TOOLS/sandbox_peer" client "$port" 1 >"$T/cli-$how.out" 2>"$T/cli-$how.err"
	wait_gone "$spid" 5 || kill "$spid" 2>/dev/null
	assert_grep '^early none$' "$T/srv-$how.out" "$how: the ClientHello is not early input to the program" \
		"$T/srv-$how.err" "$T/srv-$how.log"
	assert_grep '^250 got msg0$' "$T/cli-$how.out" "$how: banner, line, reply: no deadlock" "$T/cli-$how.err"
	assert_grep 'info: secured inbound' "$T/srv-$how.log" "$how: the connection was secured"
done

# A clear client that speaks before the banner is still seen doing so.
port=$(free_port)
start_bg srv-clear preload "$T/srv-clear.log" "$TOOLS/sandbox_peer" early "$port" pselect
spid=$BG_PID
wait_listen "$port" 10 "$spid" || bail "server did not listen" "$T/srv-clear.err"
printf 'EHLO early\r\n' | TMO=8 plain "$PY" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
s.settimeout(5)
print(s.recv(100).decode().strip())' "$port" >"$T/cli-clear.out" 2>"$T/cli-clear.err"
wait_gone "$spid" 5 || kill "$spid" 2>/dev/null
assert_grep '^early input$' "$T/srv-clear.out" "clear early talker: its input is seen at once" "$T/srv-clear.err"
assert_grep '^554 early input$' "$T/cli-clear.out" "clear early talker: told off, in clear" "$T/cli-clear.err"
finish
