#!/usr/bin/env bash
# s11-implicit-connect — issue 10 finding 02: every implicit connect is
# decided like connect().  TCP Fast Open (tcp(7) MSG_FASTOPEN) makes sendto,
# sendmsg (msg_name) and sendmmsg (each message's msg_name) connect an
# unconnected socket themselves; TCP_FASTOPEN_CONNECT defers connect's SYN to
# the first write.  Under require to a plain server each fails and the
# server receives nothing; to a secsock server each is secured and echoed.
. "$(dirname "$0")/../integration/lib.sh"
require_lib
require_tools sec_h1_probe
P=$TOOLS/sec_h1_probe
SRV=$REPO/tests/tools/sec_srv.py

start_bg plain4 plain "$PY" "$SRV" record "$T/p4.port" "$T/p4.got"
start_bg plain6 plain "$PY" "$SRV" --host ::1 record "$T/p6.port" "$T/p6.got"
wait_file "$T/p4.port" && wait_file "$T/p6.port" || bail "plain servers did not start"
P4=$(cat "$T/p4.port") P6=$(cat "$T/p6.port")
plain "$P" tfo sendto 127.0.0.1 "$P4" CONTROL-TFO >"$T/ctl.out" 2>&1
wait_grep CONTROL-TFO "$T/p4.got" 3 || bail "a plain MSG_FASTOPEN client does not reach the plain server" "$T/ctl.out"

POLICY=$T/require.conf
write_policy "$POLICY" <<'P'
[defaults]
action = require
auth = anonymous
P
for call in sendto sendmsg sendmmsg sendmmsg2; do
	TMO=15 preload "$T/a.log" "$P" tfo "$call" 127.0.0.1 "$P4" "SECRET-$call" >"$T/a-$call.out" 2>&1
	assert_grep "tfo $call: -1" "$T/a-$call.out" "IPv4 $call(MSG_FASTOPEN) under require to a plain server fails"
	TMO=15 preload "$T/a.log" "$P" tfo "$call" ::1 "$P6" "SECRET6-$call" >"$T/a6-$call.out" 2>&1
	assert_grep "tfo $call: -1" "$T/a6-$call.out" "IPv6 $call(MSG_FASTOPEN) under require to a plain server fails"
done
for call in sendto sendmsg; do
	TMO=15 preload "$T/a.log" "$P" tfo "$call" ::1 "$P6" "SECRET6-$call-24" 24 >"$T/a24-$call.out" 2>&1
	assert_grep "tfo $call: -1" "$T/a24-$call.out" "IPv6 $call(MSG_FASTOPEN), address length 24, fails"
done
TMO=15 preload "$T/a.log" "$P" tfoc 127.0.0.1 "$P4" SECRET-TFOC >"$T/tfoc.out" 2>&1
assert_grep 'connect: -1|write: -1' "$T/tfoc.out" "TCP_FASTOPEN_CONNECT + connect + write under require to a plain server fails"
TMO=15 preload "$T/a.log" "$P" tfoc ::1 "$P6" SECRET6-TFOC >"$T/tfoc6.out" 2>&1
assert_grep 'connect: -1|write: -1' "$T/tfoc6.out" "TCP_FASTOPEN_CONNECT over IPv6 fails the same way"
sleep 0.3
assert_no_grep 'SECRET' "$T/p4.got" "the plain IPv4 server received nothing in clear"
assert_no_grep 'SECRET' "$T/p6.got" "the plain IPv6 server received nothing in clear"

# the same calls to a secsock server: secured, and the data arrives
start_bg sec preload "$T/srv.log" "$PY" "$SRV" record "$T/s.port" "$T/s.got"
wait_file "$T/s.port" || bail "secsock server did not start" "$T/sec.err"
S=$(cat "$T/s.port")
for call in sendto sendmsg sendmmsg; do
	TMO=15 preload "$T/b.log" "$P" tfo "$call" 127.0.0.1 "$S" "DATA-$call" >"$T/b-$call.out" 2>&1
	assert_grep "tfo $call: [1-9]" "$T/b-$call.out" "$call(MSG_FASTOPEN) under require to a secsock server sends"
done
TMO=15 preload "$T/b.log" "$P" tfoc 127.0.0.1 "$S" DATA-TFOC >"$T/b-tfoc.out" 2>&1
assert_grep 'write: [1-9]' "$T/b-tfoc.out" "TCP_FASTOPEN_CONNECT to a secsock server: connect and write succeed"
for m in DATA-sendto DATA-sendmsg DATA-sendmmsg DATA-TFOC; do
	wait_grep "$m" "$T/s.got" 3
	assert_grep "$m" "$T/s.got" "the secsock server received $m"
done
assert_count 'secured outbound' "$T/b.log" 4 "each of them was secured"
finish
