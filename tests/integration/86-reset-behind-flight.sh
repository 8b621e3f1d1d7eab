#!/usr/bin/env bash
# 86-reset-behind-flight.sh — a client's last handshake flight, its data and
# its RST all queued at the server before the server looks at any of them.
# This is what a loaded machine does to a forking server (the child reads a
# moment after accept) when the client resets mid-upload: found by
# 67-real-faults (fork-reset-c2s) on CI.  Plain TCP on Linux gives the
# program the queued bytes, then ECONNRESET; secsock must give the same: the
# handshake completes from the queue, the identity check needs the peer's
# address — which getpeername no longer has after the RST, so it must come
# from what accept returned — and the program reads the decrypted prefix,
# then ECONNRESET.  Wrong before: "refused ... reset by peer before its
# identity was checked", and the program saw ECONNRESET before its request.
#
# Made deterministic with the relay and SIGSTOP: ss_relay holds the client's
# second chunk (its Finished) for a while; meanwhile the test stops the
# server's process group; the relay then forwards Finished and data up to
# OFF bytes and resets both ways; only after the relay closed does the test
# let the server run.  Servers: python3 socketserver, forking (the child
# drives the handshake after the fork) and threading (the engine thread
# drives it), tests/tools/tag_server.py, both preloaded under the embedded
# default policy.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools ss_relay errno_peer
require_cmd cmp
require_no_system_policy
unset POLICY
EP=$TOOLS/errno_peer
SIZE=1048576
OFF=100000
make_data "$T/data.bin" "$SIZE"

one_case() {   # KIND
	local kind=$1 port name="reset-$1"
	mkdir -p "$T/$kind"
	port=$(free_port)
	start_bg "$kind-srv" preload "$T/$kind-srv.log" "$PY" "$REPO/tests/tools/tag_server.py" "$kind" "$port" "$T/data.bin" "$T/$kind"
	local spid=$BG_PID
	wait_listen "$port" 10 "$spid" || bail "$kind server did not listen" "$T/$kind-srv.err"
	start_relay "$name-relay" --log-chunks --delay-c2s-chunk 2 --delay-c2s-ms 1500 \
		--reset-c2s "$OFF" 127.0.0.1 127.0.0.1 "$port"
	local rpid=$RELAY_PID
	{ printf 'PUT %s %d\n' "$name" "$SIZE"; cat "$T/data.bin"; } >"$T/$name.req"
	( TMO=30 preload "$T/$name-cli.log" "$EP" -T 20 -o "$T/$name.got" connect 127.0.0.1 "$RELAY_PORT" \
		"sendfile:$T/$name.req" recvall >"$T/$name.c" 2>&1 ) &
	local cpid=$!
	# The server's flight is out and it waits for the client's Finished:
	# stop it, so that everything up to the RST is queued when it runs.
	if ! wait_grep "c2s delaying chunk 2" "$T/$name-relay.err" 10; then
		fail "$kind: the relay did not hold the client's second flight" "$T/$name-relay.err"
		return
	fi
	kill -STOP -- "-$spid"
	wait_grep "conn 1 closed" "$T/$name-relay.err" 10
	check "$kind: the relay reset the connection after $OFF bytes while the server was stopped" \
		grep -q 'reset (RST both ways)' "$T/$name-relay.err"
	kill -CONT -- "-$spid"
	wait "$cpid"
	assert_grep 'secured outbound' "$T/$name-cli.log" "$kind: the client's connection was secured"
	wait_grep "^[0-9]+ $name (short|error|stored)" "$T/$kind-srv.err" 10
	assert_grep "^[0-9]+ $name (short [0-9]+|error ECONNRESET)$" "$T/$kind-srv.err" \
		"$kind: the handler read its request line, then saw the reset" "$T/$kind-srv.log"
	assert_no_grep 'refused inbound' "$T/$kind-srv.log" "$kind: the server did not refuse the reset connection"
	assert_grep 'secured inbound' "$T/$kind-srv.log" "$kind: the server's side was secured (from the queued flight)"
	assert_between "$(stat -c %s "$T/$kind/$name.bin" 2>/dev/null || echo 0)" 1 "$OFF" \
		"$kind: the server got a prefix of the upload, no byte past the reset"
	assert_prefix "$T/$kind/$name.bin" "$T/data.bin" "$kind: what the server got is the client's data, unaltered"
	stop_pid "$rpid"
	stop_pid "$spid"
}

one_case fork
one_case thread
finish
