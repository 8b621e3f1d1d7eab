#!/usr/bin/env bash
# s13-connect-readiness — issue 10 finding 14c: a non-blocking connect whose
# handshake runs in the background (require) is not reported writable before
# the handshake finished, by any readiness call: poll, ppoll, select,
# pselect, epoll (registered after connect, before connect, edge-triggered).
#   a. to a peer that accepts and never answers: not writable within 1.5 s,
#      SO_ERROR 0 (nothing has failed yet);
#   b. to a plain server (the handshake fails): writable (the failure), with
#      SO_ERROR = ECONNREFUSED;
#   c. to a secsock server: writable once secured, SO_ERROR 0, and the echo
#      round works.
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
start_bg mute plain "$PY" "$SRV" mute "$T/m.port"
start_bg plain plain "$PY" "$SRV" record "$T/q.port" "$T/q.got"
start_bg sec preload "$T/srv.log" "$PY" "$SRV" echo "$T/s.port"
wait_file "$T/m.port" && wait_file "$T/q.port" && wait_file "$T/s.port" || bail "servers did not start"
M=$(cat "$T/m.port") Q=$(cat "$T/q.port") S=$(cat "$T/s.port")
plain "$P" nbwait "$M" poll 1000 >"$T/ctl.out" 2>&1
assert_grep 'writable=1' "$T/ctl.out" "control: without the preload the silent peer's socket is writable at once"

for how in poll ppoll select pselect epoll epollet epollpre; do
	TMO=20 preload "$T/a-$how.log" "$P" nbwait "$M" "$how" 1500 >"$T/a-$how.out" 2>&1
	assert_grep 'connect: -1 \(Operation now in progress\)' "$T/a-$how.out" "a ($how): connect returns EINPROGRESS" "$T/a-$how.log"
	assert_grep "$how: writable=0 .*SO_ERROR=0" "$T/a-$how.out" "a ($how): silent peer: not writable before the handshake, SO_ERROR 0" "$T/a-$how.log"
	TMO=20 preload "$T/b-$how.log" "$P" nbwait "$Q" "$how" 5000 >"$T/b-$how.out" 2>&1
	assert_grep "$how: writable=1 .*SO_ERROR=111" "$T/b-$how.out" "b ($how): plain server: writable with SO_ERROR = ECONNREFUSED" "$T/b-$how.log"
	TMO=20 preload "$T/c-$how.log" "$P" nbwait "$S" "$how" 5000 >"$T/c-$how.out" 2>&1
	assert_grep "$how: writable=1 .*SO_ERROR=0 .*echo: 4/4 'PING'" "$T/c-$how.out" "c ($how): secsock server: writable when secured, SO_ERROR 0, echo works" "$T/c-$how.log"
	assert_grep 'secured outbound' "$T/c-$how.log" "c ($how): secured"
done
sleep 0.3
assert_no_grep 'PING' "$T/q.got" "the plain server received nothing in clear"
finish
