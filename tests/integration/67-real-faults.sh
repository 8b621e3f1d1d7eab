#!/usr/bin/env bash
# 67-real-faults.sh — issue 11, "faults on real programs, not only on curl":
# an event-loop server (redis-server) and a forking server (python3's
# socketserver.ForkingTCPServer), both preloaded, behind ss_relay, which
# injects into the first connection of each case, in either direction,
#   reset    RST to both ends after OFF wire bytes (mid-stream reset),
#   freeze   stops reading after OFF bytes: a stalled peer whose data backs up,
#   flip     one byte of a record altered at OFF (a tampered record),
#   trunc    FIN after OFF bytes, no close_notify (a truncation).
# The client (errno_peer, preloaded: it prints what read() returned) asks
# for 1 MiB from the server (s2c) or sends it 1 MiB (c2s).  Each case checks:
#   - the faulted program sees an error (ECONNRESET; a stalled peer: its own
#     timeout), never altered data: what arrived is a prefix of what was sent,
#     and a request cut by the fault is never executed (redis: the key stays
#     unset; the forking server: its handler reports the error, stores a
#     prefix, answers nothing);
#   - the server keeps serving: a second client, straight to the server,
#     gets the full 1 MiB byte-exact and a store succeeds — while the
#     connection is still stalled in the freeze cases.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools ss_relay errno_peer
need_pkg redis-server redis-server
require_cmd cmp sha256sum
require_no_system_policy
unset POLICY
EP=$TOOLS/errno_peer
SIZE=1048576
OFF=300000
make_data "$T/data.bin" "$SIZE"
mkdir -p "$T/fork"

# ---- the servers (tests/tools/tag_server.py: GET/PUT, every outcome on stderr)
FORK_PORT=$(free_port)
start_bg fork preload "$T/fork-srv.log" "$PY" "$REPO/tests/tools/tag_server.py" fork "$FORK_PORT" "$T/data.bin" "$T/fork"
FORK_PID=$BG_PID
wait_listen "$FORK_PORT" 10 "$FORK_PID" || bail "forking server did not listen" "$T/fork.err"

REDIS_PORT=$(free_port)
start_bg redis preload "$T/redis-srv.log" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
	--save '' --appendonly no --dir "$T" --daemonize no
REDIS_PID=$BG_PID
wait_listen "$REDIS_PORT" 10 "$REDIS_PID" || bail "redis-server did not listen" "$T/redis.out"

# redis requests (RESP), each ending with QUIT so the server closes
resp_set() {   # KEY FILE: SET KEY <FILE's bytes>; QUIT
	printf '*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n' "${#1}" "$1" "$(stat -c %s "$2")"
	cat "$2"
	printf '\r\n*1\r\n$4\r\nQUIT\r\n'
}
resp_set big "$T/data.bin" >"$T/redis-set-big.req"
{ printf '$%d\r\n' "$SIZE"; cat "$T/data.bin"; printf '\r\n+OK\r\n'; } >"$T/redis-get.want"
printf '%s\n' "$(sha256sum <"$T/data.bin" | cut -d' ' -f1)" >"$T/fork-put.want"
TMO=20 preload "$T/setup-cli.log" "$EP" -T 15 -o "$T/setup.got" connect 127.0.0.1 "$REDIS_PORT" \
	"sendfile:$T/redis-set-big.req" recvall >"$T/setup.c" 2>&1
assert_eq "$(cat "$T/setup.got" 2>/dev/null)" $'+OK\r\n+OK\r' "redis: SET big (1 MiB) stored" "$T/setup.c" "$T/setup-cli.log"

recv_line() { grep '^recv: ' "$1" 2>/dev/null | tail -n1; }
status_of() { recv_line "$1" | awk '{ print $3 }'; }

# The second client, straight to the server, after (or during) a fault.
other_client() {   # SRV NAME
	local srv=$1 name=$2
	if [ "$srv" = redis ]; then
		TMO=20 preload "$T/$name-o.log" "$EP" -T 15 -o "$T/$name-o.got" connect 127.0.0.1 "$REDIS_PORT" \
			'send:GET big\r\nQUIT\r\n' recvall >"$T/$name-o.c" 2>&1
		assert_same_file "$T/redis-get.want" "$T/$name-o.got" "$name: another client still gets GET big byte-exact"
	else
		TMO=20 preload "$T/$name-o.log" "$EP" -T 15 -o "$T/$name-o.got" connect 127.0.0.1 "$FORK_PORT" \
			'send:GET other\n' recvall >"$T/$name-o.c" 2>&1
		assert_same_file "$T/data.bin" "$T/$name-o.got" "$name: another client still gets 1 MiB byte-exact"
		printf 'PUT ok-%s %d\n' "$name" "$SIZE" >"$T/$name-o.req"
		cat "$T/data.bin" >>"$T/$name-o.req"
		TMO=20 preload "$T/$name-o2.log" "$EP" -T 15 -o "$T/$name-o2.got" connect 127.0.0.1 "$FORK_PORT" \
			"sendfile:$T/$name-o.req" recvall >"$T/$name-o2.c" 2>&1
		assert_same_file "$T/fork-put.want" "$T/$name-o2.got" "$name: another client's 1 MiB is stored intact"
	fi
	assert_grep 'secured outbound' "$T/$name-o.log" "$name: the other client's connection was secured"
}

# fault_case SRV DIR FAULT: one fault on the first connection through a relay.
fault_case() {
	local srv=$1 dir=$2 fault=$3 name="$1-$3-$2" port ct=20 cpid
	[ "$srv" = redis ] && port=$REDIS_PORT || port=$FORK_PORT
	[ "$fault" = freeze ] && ct=3   # a stalled peer: the client's own timeout ends it
	local opt=$fault
	[ "$fault" = trunc ] && opt=truncate
	start_relay "$name-relay" --fault-conn 1 "--$opt-$dir" "$OFF" 127.0.0.1 127.0.0.1 "$port"
	local req
	if [ "$dir" = s2c ] && [ "$srv" = redis ]; then
		req=('send:GET big\r\nQUIT\r\n')
	elif [ "$dir" = s2c ]; then
		req=("send:GET $name\n")
	elif [ "$srv" = redis ]; then
		resp_set "t-$name" "$T/data.bin" >"$T/$name.req"
		req=("sendfile:$T/$name.req")
	else
		{ printf 'PUT %s %d\n' "$name" "$SIZE"; cat "$T/data.bin"; } >"$T/$name.req"
		req=("sendfile:$T/$name.req")
	fi
	( TMO=30 preload "$T/$name-cli.log" "$EP" -T "$ct" -o "$T/$name.got" connect 127.0.0.1 "$RELAY_PORT" \
		"${req[@]}" recvall >"$T/$name.c" 2>&1 ) &
	cpid=$!
	if [ "$fault" = freeze ]; then
		# while the first connection is stalled, the server serves others
		wait_grep "frozen after" "$T/$name-relay.err" 10 ||
			fail "$name: the relay did not freeze the connection" "$T/$name-relay.err" "$T/$name.c"
		other_client "$srv" "$name-during"
		check "$name: the stalled connection was still open while the other client was served" kill -0 "$cpid"
	fi
	wait "$cpid"
	# The stalled path then goes away (the relay exits: the server gets FIN
	# or RST after what got through).  The client's own FIN cannot end it:
	# it is queued behind the data the frozen relay never read.
	[ "$fault" = freeze ] && stop_pid "$RELAY_PID"
	touch "$T/$name.got"
	assert_grep 'secured outbound' "$T/$name-cli.log" "$name: the faulted connection was secured"
	case $fault in
	reset) check "$name: the relay did reset" grep -q 'reset (RST both ways)' "$T/$name-relay.err" ;;
	flip) check "$name: the relay did flip a byte" grep -q 'flipped byte' "$T/$name-relay.err" ;;
	trunc) check "$name: the relay did send the early FIN" grep -q 'truncated (FIN)' "$T/$name-relay.err" ;;
	esac
	if [ "$dir" = s2c ]; then
		local want=$T/data.bin
		[ "$srv" = redis ] && want=$T/redis-get.want
		if [ "$fault" = freeze ]; then
			assert_grep '^alarm: stuck in recvall' "$T/$name.c" "$name: the client waits until its own timeout" "$T/$name-cli.log"
		else
			assert_eq "$(status_of "$T/$name.c")" ECONNRESET "$name: the client's read fails ECONNRESET ($(recv_line "$T/$name.c"))" \
				"$T/$name.c" "$T/$name-cli.log" "$T/$name-relay.err"
		fi
		assert_between "$(stat -c %s "$T/$name.got")" 0 "$OFF" "$name: no byte past the fault reached the client"
		assert_prefix "$T/$name.got" "$want" "$name: never altered data"
	else
		if [ "$fault" = freeze ]; then
			assert_grep '^alarm: stuck in' "$T/$name.c" "$name: the client waits until its own timeout" "$T/$name-cli.log"
		fi
		if [ "$srv" = redis ]; then
			assert_no_grep '^\+OK' "$T/$name.got" "$name: the client got no OK for the cut SET"
			# a request cut by the fault is never executed
			TMO=20 preload "$T/$name-get.log" "$EP" -T 15 -o "$T/$name-get.got" connect 127.0.0.1 "$REDIS_PORT" \
				"send:EXISTS t-$name\r\nQUIT\r\n" recvall >"$T/$name-get.c" 2>&1
			assert_eq "$(head -c 4 "$T/$name-get.got" 2>/dev/null)" $':0\r' "$name: the cut SET was not executed (EXISTS 0)" "$T/$name-get.c"
		else
			wait_grep "^[0-9]+ $name (short|error)" "$T/fork.err" 10
			assert_grep "^[0-9]+ $name (short|error)" "$T/fork.err" "$name: the server's handler saw the error and handled it"
			assert_no_grep "^[0-9]+ $name stored" "$T/fork.err" "$name: the cut upload was never answered as stored"
			assert_between "$(stat -c %s "$T/fork/$name.bin" 2>/dev/null || echo 0)" 0 "$OFF" "$name: the server got no byte past the fault"
			assert_prefix "$T/fork/$name.bin" "$T/data.bin" "$name: the server never got altered data"
			check "$name: the client got no answer" test ! -s "$T/$name.got"
		fi
	fi
	other_client "$srv" "$name"
	stop_pid "$RELAY_PID"
	check "$name: the server is still running" kill -0 "$([ "$srv" = redis ] && echo "$REDIS_PID" || echo "$FORK_PID")"
}

for srv in redis fork; do
	for fault in reset freeze flip trunc; do
		for dir in s2c c2s; do
			fault_case "$srv" "$dir" "$fault"
		done
	done
done
assert_no_grep 'SIGSEGV|abort|assert' "$T/redis.err" "redis-server: no crash"
finish
