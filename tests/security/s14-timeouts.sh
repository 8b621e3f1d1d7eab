#!/usr/bin/env bash
# s14-timeouts — issue 10 finding 11: SO_RCVTIMEO and SO_SNDTIMEO hold on a
# secured socket as on a plain one (socket(7)).
#   a. read, recv, readv, recvmsg with a 1 s SO_RCVTIMEO: the echo first,
#      then EAGAIN after about 1 s (control: the same against plain servers);
#      recv(MSG_WAITALL) returns what it got after about 1 s.
#   b. a record arriving in pieces: the timed read fails with EAGAIN after
#      about 1 s, and the bytes already taken are not lost (all 20000 bytes,
#      in order, on the next reads).
#   c. an accepted socket whose client never speaks (the server handshake
#      waits for its ClientHello): a read with SO_RCVTIMEO fails with EAGAIN.
#   e. an accepted socket whose client's ClientHello is 700 ms late (a relay
#      delays it): the read that finishes the handshake and then waits for
#      data fails with EAGAIN after about 1 s in all — one deadline for the
#      call, not a fresh one after the handshake (about 1.7 s before).
#   d. SO_SNDTIMEO 1 s against a peer that does not read: a write is cut short
#      (EAGAIN or a short count) after about 1 s, and the peer then receives
#      exactly the bytes reported written, in order.
. "$(dirname "$0")/../integration/lib.sh"
require_lib
require_tools sec_h1_probe ss_relay
P=$TOOLS/sec_h1_probe
SRV=$REPO/tests/tools/sec_srv.py
EAGAIN='-1 \(Resource temporarily unavailable\) after (0\.9|1\.[0-4])'

POLICY=$T/require.conf
write_policy "$POLICY" <<'P'
[defaults]
action = require
auth = anonymous
P
start_bg plain plain "$PY" "$SRV" echo1 "$T/q.port"
start_bg sec preload "$T/srv.log" "$PY" "$SRV" echo1 "$T/s.port"
start_bg pieces preload "$T/pieces.log" "$PY" "$SRV" pieces "$T/pc.port"
wait_file "$T/q.port" && wait_file "$T/s.port" && wait_file "$T/pc.port" || bail "servers did not start"
Q=$(cat "$T/q.port") S=$(cat "$T/s.port") PC=$(cat "$T/pc.port")
start_bg relay plain "$PY" "$SRV" splitrelay "$T/r.port" "$PC"
wait_file "$T/r.port" || bail "relay did not start"
R=$(cat "$T/r.port")

# a.
for call in read recv readv recvmsg; do
	plain "$P" rcvtimeo "$Q" "$call" >"$T/p-$call.out" 2>&1
	assert_grep "$call 2: $EAGAIN" "$T/p-$call.out" "a: control: plain $call times out"
	TMO=15 preload "$T/a.log" "$P" rcvtimeo "$S" "$call" >"$T/a-$call.out" 2>&1
	assert_grep "$call 1: 5 \(ok\).*$call 2: $EAGAIN" "$T/a-$call.out" "a: secured $call: the echo, then EAGAIN after about 1 s" "$T/a.log"
done
TMO=15 preload "$T/a.log" "$P" rcvtimeo "$S" waitall >"$T/a-waitall.out" 2>&1
assert_grep 'waitall 1: 5 \(ok\) after (0\.9|1\.[0-4])' "$T/a-waitall.out" "a: secured recv(MSG_WAITALL): the 5 bytes it got, after about 1 s"
assert_count 'secured outbound' "$T/a.log" 5 "a: every connection was secured"

# b.
TMO=20 preload "$T/b.log" "$P" partial "$R" >"$T/b.out" 2>&1
assert_grep "timed read: $EAGAIN" "$T/b.out" "b: a record arriving in pieces: EAGAIN after about 1 s" "$T/b.log"
assert_grep 'then: 20000 bytes, 0 wrong' "$T/b.out" "b: no byte lost: all 20000 bytes in order afterwards"

# c.
POLICY=$T/require.conf start_bg acc preload "$T/c.log" "$P" accept-rcvtimeo "$T/acc.port"
wait_file "$T/acc.port" || bail "accepting probe did not start"
"$PY" -c 'import socket,sys,time
s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); time.sleep(4)' "$(cat "$T/acc.port")" &
CL=$!
for ((i = 0; i < 250; i++)); do grep -q accepted "$T/acc.out" && break; sleep 0.02; done
wait "$CL" 2>/dev/null
assert_grep "accepted read: $EAGAIN" "$T/acc.out" "c: accepted socket, silent client: the read fails with EAGAIN after about 1 s" "$T/c.log"

# e.
rm -f "$T/acc.port" "$T/acc.out"
POLICY=$T/require.conf start_bg acc preload "$T/e.log" "$P" accept-rcvtimeo "$T/acc.port"
wait_file "$T/acc.port" || bail "accepting probe did not start"
start_relay slow --delay-c2s-ms 700 127.0.0.1 127.0.0.1 "$(cat "$T/acc.port")"
POLICY=$T/require.conf preload "$T/e-cli.log" "$PY" -c 'import socket,sys,time
s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); time.sleep(3)' "$RELAY_PORT" &
CL=$!
for ((i = 0; i < 250; i++)); do grep -q "accepted read" "$T/acc.out" 2>/dev/null && break; sleep 0.02; done
wait "$CL" 2>/dev/null
assert_grep 'secured inbound' "$T/e.log" "e: the late handshake completed" "$T/e.log" "$T/slow.err"
assert_grep "accepted read: $EAGAIN" "$T/acc.out" "e: late ClientHello: EAGAIN after about 1 s in all, not 1 s after the handshake" \
	"$T/acc.out" "$T/e.log"

# d.
start_bg sink preload "$T/sink.log" "$PY" "$SRV" sink "$T/k.port" "$T/k.result"
wait_file "$T/k.port" || bail "sink did not start"
TMO=30 preload "$T/d.log" "$P" sndtimeo "$(cat "$T/k.port")" >"$T/d.out" 2>&1
assert_grep 'cut: .* after (0\.9|1\.[0-4])' "$T/d.out" "d: a write is cut short after about 1 s (SO_SNDTIMEO)" "$T/d.log"
wait_file "$T/k.result" 15
total=$(sed -n 's/.*total: \([0-9]*\).*/\1/p' "$T/d.out")
assert_grep "received ${total:-x} bad 0" "$T/k.result" "d: the peer received exactly the $total bytes reported written, in order" "$T/sink.log"
assert_grep 'secured outbound' "$T/d.log" "d: secured"
finish
