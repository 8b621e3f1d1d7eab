#!/usr/bin/env bash
# 41-redis — issue 5, must-show 2: redis-server and redis-benchmark, both
# preloaded: 50 clients PING/SET/GET, then pipelined (-P 16); every request
# answered (redis-benchmark's CSV reports a rate for each test, and the
# server's INFO counts the commands), no connection torn down.
. "$(dirname "$0")/lib.sh"
require_lib
need_pkg redis-server redis-server
need_pkg redis-benchmark redis-tools
require_no_system_policy

PORT=$(free_port)
start_bg redis preload "$T/server.log" redis-server --port "$PORT" --bind 127.0.0.1 \
	--save '' --appendonly no --dir "$T" --daemonize no
REDIS_PID=$BG_PID
wait_listen "$PORT" 10 "$REDIS_PID" || bail "redis-server did not listen" "$T/redis.out"

run_bench() {   # NAME ARGS...
	local name=$1
	shift
	TMO=50 preload "$T/client-$name.log" redis-benchmark -h 127.0.0.1 -p "$PORT" -c 50 \
		-t ping,set,get -n 20000 --csv "$@" >"$T/$name.csv" 2>"$T/$name.err"
	check "redis-benchmark $name: exit 0" [ $? -eq 0 ]
	# One CSV row per test (PING_INLINE, PING_MBULK, SET, GET), each with a rate.
	assert_eq "$(grep -Ec '^"(PING_INLINE|PING_MBULK|SET|GET)","[0-9.]+' "$T/$name.csv")" 4 \
		"redis-benchmark $name: 4 tests completed with a rate" "$T/$name.csv" "$T/$name.err"
	assert_no_grep "[Ee]rror|refused|reset" "$T/$name.err" "redis-benchmark $name: no errors on stderr"
	# 50 connections per test (redis-benchmark reconnects between tests);
	# one it closes before using it sends nothing at all, so it is not
	# secured (docs/design.md "First contact"), and one it closes while its
	# handshake still runs (the test's requests were all done by the
	# others: pipelined runs) is abandoned, the server sees a reset:
	# every other one is secured.
	local used unused gone
	unused=$(grep -c 'first contact closed unused' "$T/client-$name.log")
	gone=$(grep -c 'outbound handshake abandoned: the program closed' "$T/client-$name.log")
	used=$(grep -c 'secured outbound' "$T/client-$name.log")
	echo "# redis-benchmark $name: $used secured, $unused closed unused, $gone closed during the handshake"
	assert_between "$((used + unused + gone))" 200 300 \
		"redis-benchmark $name: secured connections, 50 per test (or closed unused, or closed during the handshake)"
	assert_no_grep "torn down|refused|clear " "$T/client-$name.log" "redis-benchmark $name: nothing clear or torn down"
}

run_bench plain-c50
run_bench pipelined -P 16

# The server executed every command: per run 20000 each of PING_INLINE,
# PING_MBULK (both "ping"), SET and GET.
CALLS=$(TMO=20 preload "$T/client-cli.log" redis-cli -h 127.0.0.1 -p "$PORT" info commandstats |
	awk -F'[=,:]' '/^cmdstat_(ping|set|get):/ {s += $3} END {print s + 0}')
assert_eq "$CALLS" 160000 "redis INFO: 160000 PING/SET/GET commands executed"
assert_grep "secured outbound" "$T/client-cli.log" "redis-cli secured"
wait_grep "secured inbound" "$T/server.log" 5
WANT=$(cat "$T"/client-*.log | grep -c "secured outbound")
assert_count "secured inbound" "$T/server.log" "$WANT" "redis-server: as many secured inbound connections as the clients made"
# a connection the client closed unused is an EOF before any ClientHello,
# one it closed during the handshake a reset: the server's "went away"
UNUSED=$(cat "$T"/client-*.log | grep -Ec "first contact closed unused|outbound handshake abandoned: the program closed")
assert_count 'refused inbound .*reason="handshake: client went away"' "$T/server.log" "$UNUSED" \
	"redis-server: a client that went away only for the connections the clients closed unused or during the handshake"
grep -v 'reason="handshake: client went away"' "$T/server.log" >"$T/server-rest.log"
assert_no_grep "torn down|refused|clear inbound" "$T/server-rest.log" "redis-server: nothing clear or torn down"
finish
