# soaklib.bash — shared part of the load soaks (tests/soak/7*-load-*.sh, and
# tests/integration/68-load-quick.sh through them).  Source it after
# tests/integration/lib.sh.  It is not named *.sh: `make soak` runs those.
#
# A soak: a preloaded echo server; a warm-up load (so allocator arenas and
# interpreter caches exist before the baseline is taken); the baseline; the
# load itself (SOAK_CONNS connections, SOAK_SECS seconds of traffic both ways,
# every byte checked by tests/tools/load_client); a sample in the middle of it;
# the sample after, once the server closed its side; then the warm-up load
# once more and a last sample ("again").  The checks: every connection ok and
# secured, no byte differs, the server's descriptor count and its count of
# shared connection-state mappings back to the baseline exactly, its RSS within
# SOAK_RSS_TOL_KB (8 MiB) of the baseline after the load, and within
# SOAK_RSS_STEP_KB (4 MiB) of that after the next load.  RSS is only that
# exact: an allocator settles at a high-water mark that depends on the load's
# length and moves from run to run — plain python3 without the preload goes
# 25.3 -> 29.1 MB over six 1000-connection rounds, the preloaded one 38.2 ->
# 40.4 MB over ten and then stays — while a leak grows with every load: 4 KiB
# per connection is 4 MiB at 1000.

SOAK_SECS=${SOAK_SECS:-30}
SOAK_CONNS=${SOAK_CONNS:-1000}
SOAK_RSS_TOL_KB=${SOAK_RSS_TOL_KB:-8192}
SOAK_RSS_STEP_KB=${SOAK_RSS_STEP_KB:-4096}
SOAK_WARM_SECS=${SOAK_WARM_SECS:-5}
ROWS=()

# soak_init: descriptors for both ends (the client holds SOAK_CONNS sockets,
# an event-loop server as many, each forked child two pipe ends and a socket).
soak_init() {
	local need=$((SOAK_CONNS + 512))
	[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge "$need" ] || ulimit -Hn "$need" 2>/dev/null ||
		bail "ulimit -n: hard limit $(ulimit -Hn) < $need and cannot be raised"
	ulimit -Sn "$need" || bail "ulimit -Sn $need failed"
	require_lib
	require_tools load_client
	require_no_system_policy
	# require, not the embedded request: a load measures the secured path,
	# and under request a handshake slower than allow-clear-after (500 ms,
	# easily reached by 1000 connections on a loaded machine) is a clear
	# fallback, correct by the policy but not what is measured here.
	POLICY=$T/soak-policy.conf
	write_policy "$POLICY" <<'CONF'
[defaults]
action = require
CONF
	echo "# soak: $SOAK_CONNS connections, ${SOAK_SECS}s of traffic, ulimit -n $(ulimit -n)"
}

# (a zombie has no VmRSS line, a process gone no file: 0)
rss_kb() {
	local v
	v=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null)
	echo "${v:-0}"
}
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
kids() { pgrep -P "$1" | wc -l; }
# The preload's connection-state arena (preload/pre_arena.c: one chunk per
# 128 connections, a MAP_SHARED memfd "secsock-arena", or anonymous shared
# memory where memfd_create is refused).  More chunks after a load than
# before it means slots were never given back.
shm_maps() {
	grep -Ec ' rw-s .*(/memfd:secsock-arena|/dev/zero) \(deleted\)' "/proc/$1/maps" 2>/dev/null || echo 0
}
# Sum of the children's proportional set sizes (Pss: shared pages divided
# among the processes that map them; an RSS sum would count libcrypto once per child).
kids_pss_kb() {
	local s=0 p v
	for p in $(pgrep -P "$1"); do
		v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null)
		s=$((s + ${v:-0}))
	done
	echo "$s"
}

# sample LABEL PID: one row of the table; sets S_RSS, S_FD, S_KIDS, S_SHM.
sample() {
	local label=$1 pid=$2
	S_RSS=$(rss_kb "$pid")
	S_FD=$(fd_count "$pid")
	S_KIDS=$(kids "$pid")
	S_SHM=$(shm_maps "$pid")
	ROWS+=("$(printf '%-9s %10s %6s %8s %8s %13s  %s' "$label" "$S_RSS" "$S_FD" "$S_SHM" "$S_KIDS" \
		"$(kids_pss_kb "$pid")" "${S_EXTRA:-}")")
}

# settle PID FDS [SECS=15]: wait until PID's descriptor count is at most FDS
# and it has no children (the server closed every connection).
settle() {
	local pid=$1 fds=$2 secs=${3:-15} i
	for ((i = 0; i < secs * 10; i++)); do
		[ "$(fd_count "$pid")" -le "$fds" ] && [ "$(kids "$pid")" -eq 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# run_load NAME PORT CONNS SECS SEED [SERVER_PID]: load_client preloaded;
# with SERVER_PID, the "during" row is sampled in the middle of the traffic.
run_load() {
	local name=$1 port=$2 conns=$3 secs=$4 seed=$5 spid=${6:-} cpid rc
	rm -f "$T/$name.ready"
	local PL
	preload_argv "$T/client-$name.log"
	"${PL[@]}" timeout -k 5 $((secs + 240)) "$TOOLS/load_client" -c "$conns" -t "$secs" -s "$seed" \
		-r "$T/$name.ready" 127.0.0.1 "$port" >"$T/$name.out" 2>"$T/$name.err" &
	cpid=$!
	if [ -n "$spid" ]; then
		local i
		for ((i = 0; i < 1800; i++)); do
			[ -s "$T/$name.ready" ] && break
			kill -0 "$cpid" 2>/dev/null || break
			sleep 0.1
		done
		if [ -s "$T/$name.ready" ]; then
			sleep "$(awk -v s="$secs" 'BEGIN { print s / 2 }')"
			local lc
			lc=$(pgrep -P "$cpid" | head -n1)   # timeout's child
			S_EXTRA="client: rss $(rss_kb "$lc") kB, $(fd_count "$lc") fds"
			sample during "$spid"
			S_EXTRA=
		fi
	fi
	wait "$cpid"
	rc=$?
	LOAD_OK=$(field "$T/$name.out" ok)
	LOAD_ERR=$(field "$T/$name.out" errors)
	echo "# $name: $(tr '\n' ' ' <"$T/$name.out")"
	return "$rc"
}

# check_load NAME CONNS SERVERLOG: the client's verdict and both logs.
check_load() {
	local name=$1 conns=$2 slog=$3
	local sent recv
	sent=$(field "$T/$name.out" bytes_sent)
	recv=$(field "$T/$name.out" bytes_recv)
	assert_eq "${LOAD_OK:-}/${LOAD_ERR:-}" "$conns/0" "$name: $conns connections ok, 0 errors" \
		"$T/$name.out" "$T/$name.err" "$T/client-$name.log"
	assert_eq "$(field "$T/$name.out" mismatches)" 0 "$name: no byte of the echo differs"
	if [ -n "$sent" ] && [ "$sent" -gt 0 ] && [ "$sent" = "$recv" ]; then
		pass "$name: every byte sent came back and was checked ($sent bytes each way)"
	else
		fail "$name: bytes sent '$sent' vs echoed '$recv'"
	fi
	assert_count "secured outbound" "$T/client-$name.log" "$conns" "$name: all $conns client connections secured"
	assert_no_grep "torn down|refused|rejected|clear |error" "$T/client-$name.log" \
		"$name: client log: nothing torn down, refused or clear"
	wait_grep "secured inbound" "$slog" 5
	assert_no_grep "torn down|refused|rejected|clear |error" "$slog" \
		"$name: server log: nothing torn down, refused or clear"
}

print_table() {
	local title=$1 r
	echo "# $title"
	echo "#   sample   server_rss_kB  fds  shm_maps children children_pss_kB"
	for r in "${ROWS[@]}"; do echo "#   $r"; done
}

# check_after WHO PORT SPID: the "after" row and its checks, then the
# warm-up load again and the "again" row (see the top of this file).
# Needs BASE_RSS, BASE_FD, BASE_SHM.
check_after() {
	local who=$1 port=$2 spid=$3 after_rss
	settle "$spid" "$BASE_FD" 30
	sample after "$spid"
	after_rss=$S_RSS
	check "$who still running" kill -0 "$spid"
	assert_eq "$S_KIDS" 0 "$who: no child left"
	assert_eq "$S_FD" "$BASE_FD" "$who: descriptors back to the baseline"
	assert_eq "$S_SHM" "$BASE_SHM" "$who: shared connection-state mappings as at the baseline (every slot given back)"
	assert_between "$S_RSS" 0 $((BASE_RSS + SOAK_RSS_TOL_KB)) \
		"$who: RSS back to the baseline ($BASE_RSS kB + $SOAK_RSS_TOL_KB kB)"
	run_load again "$port" "$SOAK_CONNS" "$SOAK_WARM_SECS" 3 ||
		fail "the load after the soak failed" "$T/again.out" "$T/again.err"
	assert_eq "${LOAD_OK:-}/${LOAD_ERR:-}" "$SOAK_CONNS/0" "load after the soak: $SOAK_CONNS connections ok"
	settle "$spid" "$BASE_FD" 30
	sample again "$spid"
	assert_eq "$S_FD/$S_SHM/$S_KIDS" "$BASE_FD/$BASE_SHM/0" "$who: after one more load: descriptors, mappings, children as at the baseline"
	assert_between "$S_RSS" 0 $((after_rss + SOAK_RSS_STEP_KB)) \
		"$who: RSS does not grow from one load to the next ($after_rss kB + $SOAK_RSS_STEP_KB kB)"
}
