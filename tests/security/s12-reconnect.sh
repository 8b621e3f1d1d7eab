#!/usr/bin/env bash
# s12-reconnect — issue 10 finding 14a: a connect on a socket whose earlier
# connection is gone is decided by the policy like the first one.
#   a. connect(AF_UNSPEC) dissolves a secured connection (blocking and
#      non-blocking sockets; through the descriptor itself and through a dup
#      made before): a reconnect under require to a plain server is refused
#      and the write fails; the plain server receives nothing (not in clear,
#      not in records under the old connection's keys).
#   b. the reconnect to a secsock server is a new connection: a new
#      handshake, and the data arrives.
#   c. a socket whose non-blocking connect failed (require, plain peer: the
#      preload reset it) connected again to a secsock server is decided and
#      secured, not passed through.
. "$(dirname "$0")/../integration/lib.sh"
require_lib
require_tools sec_h1_probe
P=$TOOLS/sec_h1_probe
SRV=$REPO/tests/tools/sec_srv.py

POLICY=$T/require.conf
write_policy "$POLICY" <<'P'
[defaults]
action = require
auth = anonymous
P
start_bg plain plain "$PY" "$SRV" record "$T/q.port" "$T/q.got"
start_bg sec preload "$T/srv.log" "$PY" "$SRV" record "$T/s.port" "$T/s.got"
start_bg sec2 preload "$T/srv2.log" "$PY" "$SRV" record "$T/s2.port" "$T/s2.got"
wait_file "$T/q.port" && wait_file "$T/s.port" && wait_file "$T/s2.port" || bail "servers did not start"
Q=$(cat "$T/q.port") S=$(cat "$T/s.port") S2=$(cat "$T/s2.port")

# a.
for v in "" nb dup "nb dup"; do
	name=${v:-blocking}; name=${name// /-}
	# shellcheck disable=SC2086
	TMO=20 preload "$T/a-$name.log" "$P" unspec "$S" "$Q" "SECRET-$name" $v >"$T/a-$name.out" 2>&1
	assert_grep 'first round: 5/5' "$T/a-$name.out" "a ($name): the first connection is secured and echoes" "$T/a-$name.log"
	assert_grep 'reconnect: -1' "$T/a-$name.out" "a ($name): after connect(AF_UNSPEC), the reconnect to a plain server is refused" "$T/a-$name.log"
	assert_grep 'write: -1' "$T/a-$name.out" "a ($name): the write after it fails"
	assert_grep 'refused outbound' "$T/a-$name.log" "a ($name): the reconnect was decided (refused outbound logged)"
done
sleep 0.3
assert_no_grep 'SECRET' "$T/q.got" "a: the plain server received none of the markers"

# b.
TMO=20 preload "$T/b.log" "$P" unspec "$S" "$S2" DATA-RECONNECT >"$T/b.out" 2>&1
assert_grep 'reconnect: 0 \(ok\), write: 14' "$T/b.out" "b: reconnect to a secsock server after AF_UNSPEC works" "$T/b.log"
assert_count 'secured outbound' "$T/b.log" 2 "b: the reconnect made a handshake of its own"
wait_grep DATA-RECONNECT "$T/s2.got" 3
assert_grep DATA-RECONNECT "$T/s2.got" "b: the second server received the data (secured)"
TMO=20 preload "$T/b2.log" "$P" unspec "$S" "$S2" DATA-RECONNECT-NB nb >"$T/b2.out" 2>&1
assert_grep 'reconnect: 0 \(ok\), write: 17' "$T/b2.out" "b: the same on a non-blocking socket" "$T/b2.log"
wait_grep DATA-RECONNECT-NB "$T/s2.got" 3
assert_grep DATA-RECONNECT-NB "$T/s2.got" "b: the second server received the non-blocking socket's data"

# c.
TMO=20 preload "$T/c.log" "$P" refail "$Q" "$S2" DATA-AFTER-FAIL >"$T/c.out" 2>&1
assert_grep 'failure: Connection refused' "$T/c.out" "c: the first (require, plain peer) connect failed" "$T/c.log"
assert_grep 'second connect: 0 \(ok\), write: 15' "$T/c.out" "c: a second connect on that socket to a secsock server works" "$T/c.log"
assert_grep 'secured outbound' "$T/c.log" "c: and was secured (decided, not passed through)"
wait_grep DATA-AFTER-FAIL "$T/s2.got" 3
assert_grep DATA-AFTER-FAIL "$T/s2.got" "c: the server received the data"
finish
