#!/usr/bin/env bash
# 31-wire-record.sh — issue 4, must-show 2: what the wire carries.
# A recording relay (tests/tools/ss_relay) sits between a preloaded socat
# client and a preloaded socat echo server.
#   secured (embedded default): the marker in the payload is never on the wire
#     in either direction; client→server parses as TLS 1.3 records whose
#     ClientHello offers ALPN secsock/1, then only application_data; the
#     server→client stream likewise (ServerHello selecting TLS 1.3); and the
#     echo still comes back intact.
#   bypass (policy rule for the relay port): the marker is on the wire.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools ss_relay
require_cmd socat ss
require_no_system_policy

MARK="secsock-marker-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
{
	echo "first line: $MARK"
	head -c 60000 /dev/urandom | base64
	echo "last line: $MARK"
} >"$T/payload.txt"

# ---- the server: socat echo (PIPE), forking per connection, default policy
unset POLICY
sport=$(free_port)
start_bg echo-server preload "$T/server.log" socat "TCP4-LISTEN:$sport,bind=127.0.0.1,reuseaddr,fork" PIPE
spid=$BG_PID
wait_listen "$sport" 10 "$spid" || bail "socat echo server did not listen" "$T/echo-server.err"

# run_client NAME RELAY_PORT LOG: preloaded socat client sends the payload, saves the echo.
run_client() {
	TMO=30 preload "$3" socat -t 5 - "TCP4:127.0.0.1:$2" <"$T/payload.txt" >"$T/$1.echo" 2>"$T/$1.err"
}

# ---- 1. secured
start_relay relay-sec 127.0.0.1 127.0.0.1 "$sport"
unset POLICY
run_client sec "$RELAY_PORT" "$T/client-sec.log"
rc=$?
assert_eq "$rc" 0 "secured: socat client exits 0" "$T/sec.err" "$T/client-sec.log"
assert_same_file "$T/payload.txt" "$T/sec.echo" "secured: echo equals the payload"
assert_grep 'info: secured outbound 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:'"$RELAY_PORT"' .*cipher=' \
	"$T/client-sec.log" "secured: client logs 'secured outbound ... -> 127.0.0.1:$RELAY_PORT ... cipher='"
wait_grep 'secured inbound' "$T/server.log" 5 || true
assert_grep 'info: secured inbound 127\.0\.0\.1:'"$sport"' <- .*cipher=' "$T/server.log" \
	"secured: server logs 'secured inbound 127.0.0.1:$sport <- ...'"
stop_pid "$RELAY_PID"
wire=$T/relay-sec
check "secured: relay saw exactly one connection" test -e "$wire/conn-1.c2s" -a ! -e "$wire/conn-2.c2s"
if "$PY" "$WIRECHECK" --c2s "$wire/conn-1.c2s" --s2c "$wire/conn-1.s2c" --marker "$MARK" >"$T/wirecheck-sec.txt"; then
	pass "secured: wire check (TLS 1.3 records, ALPN secsock/1, only application_data after the hello, marker absent both ways)"
else
	fail "secured: wire check (details below)"
fi
sed 's/^/#   /' "$T/wirecheck-sec.txt"
# The plaintext carried more than a few records' worth: the wire must be at
# least as long as the payload (no compression, header and AEAD tag per record).
psize=$(stat -c %s "$T/payload.txt")
csize=$(stat -c %s "$wire/conn-1.c2s" 2>/dev/null || echo 0)
check "secured: client→server wire ($csize bytes) longer than the payload ($psize): framed and tagged" test "$csize" -gt "$psize"

# ---- 2. bypass: a client policy rule for the relay port
start_relay relay-clear 127.0.0.1 127.0.0.1 "$sport"
POLICY=$T/bypass.conf
write_policy "$POLICY" <<EOF
[rule clear-relay]
direction = outbound
port = $RELAY_PORT
action = bypass
EOF
SECSOCK_LOG=debug run_client clear "$RELAY_PORT" "$T/client-clear.log"
rc=$?
unset POLICY
assert_eq "$rc" 0 "bypass: socat client exits 0" "$T/clear.err" "$T/client-clear.log"
assert_same_file "$T/payload.txt" "$T/clear.echo" "bypass: echo equals the payload"
assert_grep 'debug: bypass outbound .*-> 127\.0\.0\.1:'"$RELAY_PORT"' rule=clear-relay' "$T/client-clear.log" \
	"bypass: client logs (at debug) 'bypass outbound ... rule=clear-relay'"
stop_pid "$RELAY_PID"
wire=$T/relay-clear
if "$PY" "$WIRECHECK" --c2s "$wire/conn-1.c2s" --s2c "$wire/conn-1.s2c" --marker "$MARK" --expect-marker \
	>"$T/wirecheck-clear.txt"; then
	pass "bypass: marker '$MARK' is on the wire"
else
	fail "bypass: marker on the wire" "$T/wirecheck-clear.txt"
fi
check "bypass: marker in the client→server bytes" grep -q "$MARK" "$wire/conn-1.c2s"
check "bypass: marker in the server→client bytes (echo)" grep -q "$MARK" "$wire/conn-1.s2c"
# and the checker is not a rubber stamp: plaintext does not parse as TLS
if "$PY" "$WIRECHECK" --c2s "$wire/conn-1.c2s" >/dev/null; then
	fail "control: the wire checker rejects the plaintext recording"
else
	pass "control: the wire checker rejects the plaintext recording"
fi

finish
