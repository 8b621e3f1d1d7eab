#!/usr/bin/env bash
# 42-iperf3 — issue 5, must-show 3: iperf3 server and client preloaded
# (non-blocking sockets driven by select), 5 s client→server and 5 s
# server→client (-R).  Each run must report a throughput, and both logs must
# show the control and data connections secured.
. "$(dirname "$0")/lib.sh"
require_lib
need_pkg iperf3 iperf3
require_no_system_policy

PORT=$(free_port)
start_bg iperf3 preload "$T/server.log" iperf3 -s -B 127.0.0.1 -p "$PORT"
SRV=$BG_PID
wait_listen "$PORT" 10 "$SRV" || bail "iperf3 server did not listen" "$T/iperf3.err"

run() {   # NAME ARGS...
	local name=$1 rate
	shift
	: >"$T/client-$name.log"
	TMO=30 preload "$T/client-$name.log" iperf3 -c 127.0.0.1 -p "$PORT" -t 5 -J "$@" \
		>"$T/$name.json" 2>"$T/$name.err"
	check "iperf3 $name: exit 0" [ $? -eq 0 ]
	rate=$("$PY" -c 'import json,sys
d=json.load(open(sys.argv[1]))
print(int(d["end"]["sum_received"]["bits_per_second"]))' "$T/$name.json" 2>/dev/null)
	assert_between "${rate:-0}" 1000000 1e12 "iperf3 $name: received bits/s reported"
	echo "# iperf3 $name: $(awk -v r="${rate:-0}" 'BEGIN {printf "%.2f Gbit/s", r / 1e9}')"
	# control + one data connection
	assert_count "secured outbound" "$T/client-$name.log" 2 "iperf3 $name: control and data connection secured" \
		"$T/$name.err"
	assert_no_grep "torn down|refused|clear " "$T/client-$name.log" "iperf3 $name: nothing clear or torn down"
}

run forward
run reverse -R
wait_grep "secured inbound" "$T/server.log" 5
assert_count "secured inbound" "$T/server.log" 4 "iperf3 server: 4 secured inbound connections"
assert_no_grep "torn down|refused|clear " "$T/server.log" "iperf3 server: nothing clear or torn down"
finish
