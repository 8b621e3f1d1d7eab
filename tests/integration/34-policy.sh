#!/usr/bin/env bash
# 34-policy.sh — issue 4, must-show 5: policy wiring end to end.
#   block → connect fails EACCES (errno_peer and curl), nothing reaches the server;
#   bypass → the wire (ss_relay recording) carries the plaintext;
#   invalid / missing / world-writable policy file → every TCP connect is
#     refused ECONNREFUSED, inbound connections are reset, and the process
#     logs exactly one "error: policy" line however many connections it tries;
#   `secsock run --policy F --log info --log-file L -- PROG` secures a
#     connection with no LD_PRELOAD in the environment.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools ss_relay errno_peer
require_cmd curl socat ss
require_no_system_policy
unset POLICY
EP=$TOOLS/errno_peer
MARK="policy-marker-$$-$RANDOM"

# only_tool_lines FILE: stdout of errno_peer has nothing but its own lines
# (the library never writes to the program's stdout).
only_tool_lines() {
	! grep -Evq '^(\[[0-9]+\] )?(connect|connect-ms|send|recv|shutwr|total-received|listening|accept): ' "$1"
}

# ---------------------------------------------------------------- block
sport=$(free_port)
start_bg block-srv plain "$EP" -T 20 listen 127.0.0.1 "$sport" recvall
bpid=$BG_PID
wait_listen "$sport" 10 "$bpid" || bail "block: server did not listen" "$T/block-srv.err"
POLICY=$T/block.conf
write_policy "$POLICY" <<EOF
[rule deny]
direction = outbound
port = $sport
action = block
EOF
preload "$T/block.log" "$EP" -T 20 connect 127.0.0.1 "$sport" 'send:should never leave\n' >"$T/block.c" 2>&1
assert_eq "$(field "$T/block.c" connect)" EACCES "block: connect fails EACCES" "$T/block.c" "$T/block.log"
assert_grep 'warn: blocked outbound [^ ]+ -> 127\.0\.0\.1:'"$sport"' rule=deny' "$T/block.log" \
	"block: logs 'blocked outbound ... rule=deny'"
preload "$T/block-curl.log" curl -sS -o /dev/null "http://127.0.0.1:$sport/" 2>"$T/block-curl.err"
rc=$?
assert_eq "$rc" 7 "block: curl fails to connect (exit 7)" "$T/block-curl.err"
unset POLICY
if wait_grep '^accept: ' "$T/block-srv.out" 1; then
	fail "block: the server never saw a connection" "$T/block-srv.out"
else
	pass "block: the server never saw a connection"
fi
stop_pid "$bpid"

# ---------------------------------------------------------------- bypass
sport=$(free_port)
start_bg bypass-srv plain "$EP" -T 20 listen 127.0.0.1 "$sport" recvline 'send:reply \x41\n'
spid=$BG_PID
wait_listen "$sport" 10 "$spid" || bail "bypass: server did not listen" "$T/bypass-srv.err"
start_relay bypass-relay 127.0.0.1 127.0.0.1 "$sport"
POLICY=$T/bypass.conf
write_policy "$POLICY" <<EOF
[rule clear]
direction = outbound
port = $RELAY_PORT
action = bypass
EOF
SECSOCK_LOG=debug preload "$T/bypass.log" "$EP" -T 20 -o "$T/bypass.got" connect 127.0.0.1 "$RELAY_PORT" "send:$MARK\n" recvline \
	>"$T/bypass.c" 2>&1
unset POLICY
assert_eq "$(cat "$T/bypass.got" 2>/dev/null)" "reply A" "bypass: the dialogue works" "$T/bypass.c" "$T/bypass.log"
assert_grep 'debug: bypass outbound .*-> 127\.0\.0\.1:'"$RELAY_PORT"' rule=clear' "$T/bypass.log" "bypass: logs 'bypass outbound ... rule=clear'"
wait_gone "$spid" 5
assert_eq "$(head -c ${#MARK} "$T/bypass-relay/conn-1.c2s" 2>/dev/null)" "$MARK" \
	"bypass: the wire starts with the plaintext marker (no ClientHello)"
check "bypass: the reply is plaintext on the wire" grep -q 'reply A' "$T/bypass-relay/conn-1.s2c"
stop_pid "$RELAY_PID"

# ---------------------------------------------------------------- failed policy: fail closed
sport=$(free_port)
start_bg victim-srv plain "$EP" -T 30 listen 127.0.0.1 "$sport" recvall
vpid=$BG_PID
wait_listen "$sport" 10 "$vpid" || bail "fail-closed: server did not listen" "$T/victim-srv.err"

write_policy "$T/invalid.conf" <<EOF
[rule broken]
direction = outbound
port = banana
action = require
EOF
write_policy "$T/writable.conf" <<EOF
[rule fine]
direction = outbound
port = 1-65535
action = request
EOF
chmod 0666 "$T/writable.conf"

for kind in invalid missing writable; do
	case $kind in
	invalid) POLICY=$T/invalid.conf ;;
	missing) POLICY=$T/does-not-exist.conf ;;
	writable) POLICY=$T/writable.conf ;;
	esac
	log=$T/failed-$kind.log
	preload "$log" "$EP" -T 20 -c 3 connect 127.0.0.1 "$sport" 'send:must not leave\n' >"$T/failed-$kind.c" 2>&1
	unset POLICY
	assert_count '^\[[123]\] connect: ECONNREFUSED$' "$T/failed-$kind.c" 3 \
		"$kind policy: three connects in one process, each fails ECONNREFUSED" "$log"
	assert_count 'error: policy ' "$log" 1 "$kind policy: exactly one 'error: policy' log line"
	assert_grep 'error: policy .*refusing' "$log" "$kind policy: the line says connections are refused"
	check "$kind policy: the library wrote nothing on the program's stdout" only_tool_lines "$T/failed-$kind.c"
done
if wait_grep '^accept: ' "$T/victim-srv.out" 1; then
	fail "failed policies: no connection ever reached the server" "$T/victim-srv.out"
else
	pass "failed policies: no connection ever reached the server"
fi
stop_pid "$vpid"

# a non-socket program is unaffected by the broken policy
out=$(POLICY=$T/invalid.conf preload "$T/failed-echo.log" echo still-fine 2>&1)
assert_eq "$out" still-fine "invalid policy: a program without sockets runs normally"

# inbound under a failed policy: the accepted connection is reset
sport=$(free_port)
POLICY=$T/invalid.conf
start_bg failed-srv preload "$T/failed-srv.log" "$EP" -T 30 listen 127.0.0.1 "$sport" 'send:must not leave\n' recvall
fpid=$BG_PID
unset POLICY
wait_listen "$sport" 10 "$fpid" || bail "fail-closed inbound: server did not listen" "$T/failed-srv.err" "$T/failed-srv.log"
plain "$EP" -T 20 -o "$T/failed-in.got" connect 127.0.0.1 "$sport" recvall >"$T/failed-in.c" 2>&1
assert_grep '^recv: 0 ECONNRESET$' "$T/failed-in.c" "invalid policy, inbound: the plain client is reset (read ECONNRESET)" \
	"$T/failed-srv.log" "$T/failed-srv.out"
check "invalid policy, inbound: not a byte from the server" test ! -s "$T/failed-in.got"
wait_grep 'error: policy' "$T/failed-srv.log" 3 || true
assert_count 'error: policy ' "$T/failed-srv.log" 1 "invalid policy, inbound: exactly one 'error: policy' log line"
stop_pid "$fpid"

# ---------------------------------------------------------------- secsock run
[ -x "$SECSOCK" ] || bail "$SECSOCK is missing"
sport=$(free_port)
if ! plain "$SECSOCK" run -- true >"$T/run-probe.out" 2>&1; then
	fail "secsock run: 'secsock run -- true' works" "$T/run-probe.out"
	finish
fi
start_bg run-srv env -u LD_PRELOAD -u SECSOCK_POLICY "$SECSOCK" run --log info --log-file "$T/run-srv.log" -- \
	socat "TCP4-LISTEN:$sport,bind=127.0.0.1,reuseaddr,fork" PIPE
rpid=$BG_PID
wait_listen "$sport" 10 "$rpid" || bail "secsock run: socat server did not listen" "$T/run-srv.err"
start_relay run-relay 127.0.0.1 127.0.0.1 "$sport"
write_policy "$T/run.conf" <<EOF
[rule must]
direction = outbound
port = $RELAY_PORT
action = require
EOF
TMO=30 plain "$SECSOCK" run --policy "$T/run.conf" --log info --log-file "$T/run-cli.log" -- \
	"$EP" -T 20 -o "$T/run.got" connect 127.0.0.1 "$RELAY_PORT" "send:$MARK\n" recvline >"$T/run.c" 2>"$T/run.err"
rc=$?
assert_eq "$rc" 0 "secsock run: client exits 0" "$T/run.c" "$T/run.err" "$T/run-cli.log"
assert_eq "$(cat "$T/run.got" 2>/dev/null)" "$MARK" "secsock run: the echo came back"
assert_grep 'info: secured outbound .*-> 127\.0\.0\.1:'"$RELAY_PORT"' rule=must cipher=' "$T/run-cli.log" \
	"secsock run: client logs 'secured outbound ... rule=must cipher=' (--policy, --log, --log-file honoured)"
wait_grep 'secured inbound' "$T/run-srv.log" 5 || true
assert_grep 'info: secured inbound 127\.0\.0\.1:'"$sport"' <- .*rule=defaults cipher=' "$T/run-srv.log" \
	"secsock run: server (embedded default) logs 'secured inbound'"
check "secsock run: the library wrote nothing on the program's stdout" only_tool_lines "$T/run.c"
stop_pid "$RELAY_PID"
if "$PY" "$WIRECHECK" --c2s "$T/run-relay/conn-1.c2s" --s2c "$T/run-relay/conn-1.s2c" --marker "$MARK" >"$T/run-wire.txt"; then
	pass "secsock run: the wire is TLS 1.3 with ALPN secsock/1 and no marker"
else
	fail "secsock run: wire check" "$T/run-wire.txt"
fi
# a non-existent program: secsock run reports it and fails (no hang, no preload surprise)
plain "$SECSOCK" run -- "$T/no-such-program" >"$T/run-missing.out" 2>&1
rc=$?
check "secsock run: a missing PROGRAM fails with a non-zero exit ($rc)" test "$rc" -ne 0

finish
