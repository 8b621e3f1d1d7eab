#!/usr/bin/env bash
# 33-faults.sh — issue 4, must-show 4: faults on a secured connection, injected
# by ss_relay between two preloaded errno_peer processes (which print exactly
# what read()/connect() returned).
#   control: no fault → all bytes, then EOF (close_notify);
#   one byte flipped mid-stream (either direction) → the reader gets
#     ECONNRESET and everything it did get is a prefix of the original;
#   truncation (FIN, no close_notify) → ECONNRESET, not a silent EOF;
#   a peer that stops mid-handshake → connect fails ETIMEDOUT after
#     handshake-timeout (2 s here) under require; a server whose client stops
#     mid-handshake resets (read ECONNRESET); under request the client gives
#     up after allow-clear-after and goes clear.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools ss_relay errno_peer
require_cmd ss cmp
require_no_system_policy
unset POLICY
EP=$TOOLS/errno_peer
SIZE=1048576
OFF=300000
make_data "$T/data.bin" "$SIZE"

# recv_line FILE: the last "recv: N STATUS" line of an errno_peer transcript.
recv_line() { grep '^recv: ' "$1" 2>/dev/null | tail -n1; }

# s2c_case NAME RELAY_OPTS...: preloaded server sends data.bin after a hello
# line; preloaded client reads everything.  Leaves $T/NAME.c (client
# transcript), $T/NAME.got (client's bytes).
s2c_case() {
	local name=$1
	shift
	local sport
	sport=$(free_port)
	start_bg "$name-srv" preload "$T/$name-srv.log" "$EP" -T 30 listen 127.0.0.1 "$sport" recvline "sendfile:$T/data.bin"
	local spid=$BG_PID
	wait_listen "$sport" 10 "$spid" || bail "$name: server did not listen" "$T/$name-srv.err" "$T/$name-srv.out"
	start_relay "$name-relay" "$@" 127.0.0.1 127.0.0.1 "$sport"
	preload "$T/$name-cli.log" "$EP" -T 30 -o "$T/$name.got" connect 127.0.0.1 "$RELAY_PORT" 'send:hello\n' recvall \
		>"$T/$name.c" 2>&1
	wait_gone "$spid" 10
	stop_pid "$spid"
	stop_pid "$RELAY_PID"
	touch "$T/$name.got"
}

# c2s_case NAME RELAY_OPTS...: preloaded client sends data.bin; preloaded
# server reads everything.  Leaves $T/NAME-srv.out (server transcript) and
# $T/NAME.sgot (server's bytes).
c2s_case() {
	local name=$1
	shift
	local sport
	sport=$(free_port)
	start_bg "$name-srv" preload "$T/$name-srv.log" "$EP" -T 30 -o "$T/$name.sgot" listen 127.0.0.1 "$sport" recvall
	local spid=$BG_PID
	wait_listen "$sport" 10 "$spid" || bail "$name: server did not listen" "$T/$name-srv.err" "$T/$name-srv.out"
	start_relay "$name-relay" "$@" 127.0.0.1 127.0.0.1 "$sport"
	preload "$T/$name-cli.log" "$EP" -T 30 connect 127.0.0.1 "$RELAY_PORT" "sendfile:$T/data.bin" shutwr recvall \
		>"$T/$name.c" 2>&1
	wait_gone "$spid" 10
	stop_pid "$spid"
	stop_pid "$RELAY_PID"
	touch "$T/$name.sgot"
}

# ---- control: the same path without a fault ends in a clean EOF
s2c_case control
assert_eq "$(recv_line "$T/control.c")" "recv: $SIZE EOF" "control: client reads all $SIZE bytes, then EOF (close_notify)" \
	"$T/control.c" "$T/control-cli.log" "$T/control-srv.log"
assert_same_file "$T/data.bin" "$T/control.got" "control: bytes intact"
assert_grep 'secured outbound' "$T/control-cli.log" "control: the connection was secured"

# ---- one byte flipped server→client
s2c_case flip-s2c --flip-s2c "$OFF"
l=$(recv_line "$T/flip-s2c.c")
n=$(echo "$l" | awk '{ print $2 }')
assert_eq "$(echo "$l" | awk '{ print $3 }')" ECONNRESET "flip s2c at $OFF: client read fails ECONNRESET ($l)" \
	"$T/flip-s2c.c" "$T/flip-s2c-cli.log" "$T/flip-s2c-relay.err"
assert_between "${n:-0}" 0 "$OFF" "flip s2c: the client got no byte at or past the flipped record (bytes delivered)"
assert_prefix "$T/flip-s2c.got" "$T/data.bin" "flip s2c: never altered data"
check "flip s2c: the relay did flip the byte" grep -q "flipped byte at $OFF" "$T/flip-s2c-relay.err"

# ---- one byte flipped client→server
c2s_case flip-c2s --flip-c2s "$OFF"
l=$(recv_line "$T/flip-c2s-srv.out")
n=$(echo "$l" | awk '{ print $2 }')
assert_eq "$(echo "$l" | awk '{ print $3 }')" ECONNRESET "flip c2s at $OFF: server read fails ECONNRESET ($l)" \
	"$T/flip-c2s-srv.out" "$T/flip-c2s-srv.log" "$T/flip-c2s-relay.err"
assert_between "${n:-0}" 0 "$OFF" "flip c2s: the server got no byte at or past the flipped record (bytes delivered)"
assert_prefix "$T/flip-c2s.sgot" "$T/data.bin" "flip c2s: never altered data"

# ---- truncation: FIN without close_notify
s2c_case trunc-s2c --truncate-s2c "$OFF"
l=$(recv_line "$T/trunc-s2c.c")
n=$(echo "$l" | awk '{ print $2 }')
assert_eq "$(echo "$l" | awk '{ print $3 }')" ECONNRESET "truncate s2c at $OFF: client read fails ECONNRESET, not EOF ($l)" \
	"$T/trunc-s2c.c" "$T/trunc-s2c-cli.log" "$T/trunc-s2c-relay.err"
assert_between "${n:-0}" 0 "$OFF" "truncate s2c: bytes delivered before the error"
assert_prefix "$T/trunc-s2c.got" "$T/data.bin" "truncate s2c: delivered bytes are the original's prefix"
check "truncate s2c: the relay did send the early FIN" grep -q 'truncated (FIN)' "$T/trunc-s2c-relay.err"

c2s_case trunc-c2s --truncate-c2s "$OFF"
l=$(recv_line "$T/trunc-c2s-srv.out")
assert_eq "$(echo "$l" | awk '{ print $3 }')" ECONNRESET "truncate c2s at $OFF: server read fails ECONNRESET, not EOF ($l)" \
	"$T/trunc-c2s-srv.out" "$T/trunc-c2s-srv.log"
assert_prefix "$T/trunc-c2s.sgot" "$T/data.bin" "truncate c2s: delivered bytes are the original's prefix"

# ---- a peer that stops mid-handshake (require, handshake-timeout = 2s)
# (a) the relay forwards the ClientHello but never the server's answer
sport=$(free_port)
start_bg stall-srv preload "$T/stall-srv.log" "$EP" -T 30 listen 127.0.0.1 "$sport" recvall
spid=$BG_PID
wait_listen "$sport" 10 "$spid" || bail "stall: server did not listen" "$T/stall-srv.err"
start_relay stall-relay --stall-s2c 0 127.0.0.1 127.0.0.1 "$sport"
POLICY=$T/slow.conf
write_policy "$POLICY" <<EOF
[rule slow]
direction = outbound
port = $RELAY_PORT
action = require
handshake-timeout = 2s
EOF
preload "$T/stall-cli.log" "$EP" -T 30 connect 127.0.0.1 "$RELAY_PORT" >"$T/stall.c" 2>&1
unset POLICY
assert_eq "$(field "$T/stall.c" connect)" ETIMEDOUT "server answer stalled: connect fails ETIMEDOUT" "$T/stall.c" "$T/stall-cli.log"
assert_between "$(field "$T/stall.c" connect-ms)" 1500 6000 "server answer stalled: after handshake-timeout=2s (connect ms)"
check "server answer stalled: the ClientHello did reach the relay" test -s "$T/stall-relay/conn-1.c2s"
stop_pid "$spid"
stop_pid "$RELAY_PID"

# (b) a plain server that accepts and never says anything
sport=$(free_port)
start_bg mute-srv plain "$EP" -T 30 listen 127.0.0.1 "$sport" sleep:25000
mpid=$BG_PID
wait_listen "$sport" 10 "$mpid" || bail "mute server did not listen" "$T/mute-srv.err"
POLICY=$T/slow2.conf
write_policy "$POLICY" <<EOF
[rule slow]
direction = outbound
port = $sport
action = require
handshake-timeout = 2s
EOF
preload "$T/mute-cli.log" "$EP" -T 30 connect 127.0.0.1 "$sport" >"$T/mute.c" 2>&1
unset POLICY
assert_eq "$(field "$T/mute.c" connect)" ETIMEDOUT "mute server: connect fails ETIMEDOUT" "$T/mute.c" "$T/mute-cli.log"
assert_between "$(field "$T/mute.c" connect-ms)" 1500 6000 "mute server: after handshake-timeout=2s (connect ms)"
stop_pid "$mpid"

# (c) request instead of require: no answer within allow-clear-after → clear
sport=$(free_port)
start_bg mute2-srv plain "$PY" "$REPO/tests/tools/banner_server.py" --quiet 127.0.0.1 "$sport"
mpid=$BG_PID
wait_listen "$sport" 10 "$mpid" || bail "quiet server did not listen" "$T/mute2-srv.err"
POLICY=$T/opportunistic.conf
write_policy "$POLICY" <<EOF
[rule opportunistic]
direction = outbound
port = $sport
action = request
allow-clear-after = 1s
EOF
t0=$(ms_now)
preload "$T/mute2-cli.log" "$EP" -T 30 -o "$T/mute2.got" connect 127.0.0.1 "$sport" 'send:hello\n' recvline \
	>"$T/mute2.c" 2>&1
t1=$(ms_now)
unset POLICY
assert_eq "$(field "$T/mute2.c" connect)" OK "request, silent peer: connect succeeds in clear" "$T/mute2.c" "$T/mute2-cli.log"
assert_eq "$(tr -d '\r' <"$T/mute2.got" 2>/dev/null)" "250 hello" "request, silent peer: the clear dialogue works"
# connect is not held (docs/design.md "First contact"); the first exchange
# waits allow-clear-after for the probe's answer, then goes clear.
assert_between "$(field "$T/mute2.c" connect-ms)" 0 500 "request, silent peer: connect returns at once (connect ms)"
assert_between "$((t1 - t0))" 800 5000 "request, silent peer: the dialogue after allow-clear-after=1s (ms)"
assert_grep 'clear outbound .*rule=opportunistic reason="peer does not speak secsock' "$T/mute2-cli.log" \
	"request, silent peer: logs clear with reason"
stop_pid "$mpid"

# (d) server side: the client stops mid-ClientHello (the first 100 bytes of
# the real secsock ClientHello recorded in (a), then silence); the preloaded
# server (require inbound, handshake-timeout = 2s) resets: its read fails
# ECONNRESET, and the client sees the reset.
head -c 100 "$T/stall-relay/conn-1.c2s" >"$T/hello-prefix.bin"
sport=$(free_port)
POLICY=$T/slow-in.conf
write_policy "$POLICY" <<EOF
[rule slow-in]
direction = inbound
port = $sport
action = require
handshake-timeout = 2s
EOF
start_bg halt-srv preload "$T/halt-srv.log" "$EP" -T 30 listen 127.0.0.1 "$sport" recvall
hpid=$BG_PID
unset POLICY
wait_listen "$sport" 10 "$hpid" || bail "halt server did not listen" "$T/halt-srv.err"
t0=$(ms_now)
plain "$EP" -T 10 connect 127.0.0.1 "$sport" "sendfile:$T/hello-prefix.bin" recvall >"$T/halt.c" 2>&1
t1=$(ms_now)
wait_gone "$hpid" 5
assert_eq "$(recv_line "$T/halt-srv.out")" "recv: 0 ECONNRESET" "client stopped mid-ClientHello: server read fails ECONNRESET" \
	"$T/halt-srv.out" "$T/halt-srv.log"
assert_eq "$(recv_line "$T/halt.c")" "recv: 0 ECONNRESET" "client stopped mid-ClientHello: the client is reset" "$T/halt.c"
assert_between "$((t1 - t0))" 1500 6000 "client stopped mid-ClientHello: reset after about handshake-timeout=2s (ms)"
stop_pid "$hpid"

# (e) the client sends part of a ClientHello and closes (FIN): the preloaded
# server (embedded default) must end the read promptly — EOF or ECONNRESET —
# without spinning on a queue that can never complete.
sport=$(free_port)
start_bg cut-srv preload "$T/cut-srv.log" "$EP" -T 20 listen 127.0.0.1 "$sport" recvall
cpid=$BG_PID
wait_listen "$sport" 10 "$cpid" || bail "cut server did not listen" "$T/cut-srv.err"
plain "$EP" -T 10 connect 127.0.0.1 "$sport" "sendfile:$T/hello-prefix.bin" shutwr >"$T/cut.c" 2>&1
wait_gone "$cpid" 3
l=$(recv_line "$T/cut-srv.out")
case $l in
"recv: 0 ECONNRESET" | "recv: 0 EOF") pass "partial ClientHello then FIN: server read ends ($l)" ;;
*)
	cpu=$(awk '{ print ($14 + $15) / 100 }' "/proc/$cpid/stat" 2>/dev/null)
	fail "partial ClientHello then FIN: server read ends within 3 s (still in read; ${cpu:-?} s CPU used so far)" \
		"$T/cut-srv.out" "$T/cut-srv.log"
	;;
esac
stop_pid "$cpid"

finish
