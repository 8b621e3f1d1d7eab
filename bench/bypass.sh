# bench/bypass.sh — the cost of the preload on sockets policy leaves alone
# (sourced by run.sh): redis-benchmark -c 50 -t ping,set,get
#   no-preload          plain server, plain benchmark
#   preload-bypass      server and benchmark under the preload with a
#                       policy whose only rule bypasses every TCP port, at
#                       the default log level (what a user runs; at
#                       SECSOCK_LOG=debug every bypassed connection also
#                       costs a log line and the address look-ups for it)
#
# Three figures (bench/README.md "Bypass overhead"):
#   wall clock    server pinned to CPU 0 and benchmark to CPU 1 (taskset),
#                 BYPASS_REPS (2 × REPS) alternated repetitions, median (min–max) req/s;
#                 on this shared 2-core machine single runs swing ±10–30%.
#   instructions  redis-server under callgrind serving one fixed
#                 redis-benchmark run (-n BYPASS_CG_N per test), both
#                 contenders, BYPASS_CG_REPS alternated pairs: instructions
#                 of the server's event loop (--toggle-collect=aeMain, so
#                 start-up — the start-up target's business — and shutdown
#                 are not counted).  Independent of load, but redis' per-
#                 process random hash seed (command-table and key lookups)
#                 and its timer-driven cron move it by about ±1%.
#   shim cost     instructions executed inside libsecsock.so in those runs
#                 (callgrind's per-object self cost), per request and as a
#                 share of the event loop's instructions: what the shims
#                 add, deterministic.  The shims make no system call of
#                 their own on a bypassed socket (strace -c -f, see
#                 README), so this is the whole added cost save caches.
# Before measuring, a preloaded server and client at SECSOCK_LOG=debug must
# log 'bypass inbound' / 'bypass outbound' and nothing secured.

# bypass_cg_objects FILE — "total libsecsock-self" instruction counts from a
# callgrind output file: self costs summed per object (ob=), skipping the
# inclusive cost lines that follow calls=.
bypass_cg_objects() {
	python3 - "$1" <<-'EOF'
	import re, sys
	names, ob, total, ours, skip = {}, "", 0, 0, False
	for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
	    if line.startswith(("ob=", "cob=")):
	        # names are compressed: "(id) name" the first time an object
	        # appears (in either key), "(id)" after that
	        m = re.match(r"c?ob=(?:\((\d+)\))?\s*(.*)", line.rstrip("\n"))
	        if m.group(2):
	            names[m.group(1)] = m.group(2)
	        if line.startswith("ob="):
	            ob = m.group(2) or names.get(m.group(1), "")
	    elif line.startswith("calls="):
	        skip = True
	    elif line[:1].isdigit() or line[:1] in "+-*":
	        if skip:
	            skip = False
	            continue
	        f = line.split()
	        if len(f) >= 2 and f[1].isdigit():
	            total += int(f[1])
	            if "libsecsock" in ob:
	                ours += int(f[1])
	print(total, ours)
	EOF
}

# bypass_callgrind CONTENDER PREFIX — one callgrind run of redis-server; the
# benchmark client runs plain (only the server is counted).
bypass_callgrind() {
	local ct=$1 prefix=$2 port out pid tests nreq counts total ours
	port=$(free_port) || return 1
	out="$WORK/callgrind-bypass-$ct-$BYPASS_CG_SEQ.out"
	BYPASS_CG_SEQ=$((BYPASS_CG_SEQ + 1))
	# shellcheck disable=SC2086
	bg_start "callgrind-bypass-$ct" $prefix valgrind --tool=callgrind --toggle-collect=aeMain \
		--callgrind-out-file="$out" \
		redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
		--protected-mode no --daemonize no --dir "$WORK" --dbfilename "dump-cg.rdb"
	pid=$BG_PID
	if ! wait_port "$port" 60; then
		stop_pid "$pid"
		not_measured bypass "$BYPASS_CG_CASE" "$ct" minstr "redis-server under callgrind did not start"
		return 0
	fi
	timeout -k 5 900 redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -n "$BYPASS_CG_N" \
		-t "$REDIS_TESTS" -q >/dev/null 2>>"$LOGS/redis-benchmark.err" || true
	# a clean shutdown, so callgrind writes its file
	timeout 60 redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
	for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	stop_pid "$pid"
	if [ ! -s "$out" ] || ! counts=$(bypass_cg_objects "$out"); then
		not_measured bypass "$BYPASS_CG_CASE" "$ct" minstr "no callgrind output"
		return 0
	fi
	read -r total ours <<<"$counts"
	record bypass "$BYPASS_CG_CASE" "$ct" minstr "$(awk -v t="$total" 'BEGIN { printf "%.3f", t / 1e6 }')"
	# requests: one per test and -n, as redis-benchmark counts them
	# (ping,set,get → PING_INLINE, PING_MBULK, SET, GET)
	tests=$(echo "$REDIS_TESTS" | tr ',' '\n' | sed 's/^ping$/ping ping/' | wc -w)
	nreq=$((tests * BYPASS_CG_N))
	if [ "$ct" = preload-bypass ]; then
		record bypass "inside libsecsock.so, per request" "$ct" instr \
			"$(awk -v o="$ours" -v n="$nreq" 'BEGIN { printf "%.2f", o / n }')"
		record bypass "inside libsecsock.so, share of the event loop" "$ct" pct \
			"$(awk -v o="$ours" -v t="$total" 'BEGIN { printf "%.3f", (t > 0 ? 100 * o / t : 0) }')"
	fi
	rm -f "$out"
}

# bypass_check POLICY — the policy really bypasses: a preloaded server and
# client at SECSOCK_LOG=debug log their decisions.  Prints why not.
bypass_check() {
	local pol=$1 port pid
	port=$(free_port) || { echo "no free port"; return 1; }
	redis_start bypass-check "$port" "$(secsock_env bypass-check-server "$pol" debug)"
	pid=$BG_PID
	if ! wait_port "$port" 5; then
		stop_pid "$pid"
		echo "redis-server under the preload did not start"
		return 1
	fi
	# shellcheck disable=SC2046
	$(secsock_env bypass-check "$pol" debug) redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1
	stop_pid "$pid"
	local f
	for f in bypass-check-server:inbound bypass-check:outbound; do
		if ! grep -q " bypass ${f#*:} " "$LOGS/secsock-${f%%:*}.log" 2>/dev/null; then
			echo "no 'bypass ${f#*:}' line in secsock-${f%%:*}.log"
			return 1
		fi
		if grep -q ' secured ' "$LOGS/secsock-${f%%:*}.log"; then
			echo "a connection was secured despite the bypass rule"
			return 1
		fi
	done
}

bench_bypass() {
	local contenders="no-preload" p_plain p_by pol why pin_s="" pin_c=""
	local reps=${BYPASS_REPS:-$((REPS * 2))}
	BYPASS_CG_N=${BYPASS_CG_N:-$([ "$QUICK" = 1 ] && echo 2000 || echo 10000)}
	BYPASS_CG_CASE="redis-server instructions (callgrind, -n $BYPASS_CG_N)"
	BYPASS_CG_SEQ=0
	local cg_reps=${BYPASS_CG_REPS:-$([ "$QUICK" = 1 ] && echo 1 || echo 2)}
	# Server and benchmark on separate CPUs: no run measures the two
	# competing for one core while the other idles.
	if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
		pin_s="taskset -c 0"
		pin_c="taskset -c 1"
		meta bypass_pinning "redis-server on CPU 0, redis-benchmark on CPU 1 (taskset)"
	else
		meta bypass_pinning "not pinned (taskset missing or one CPU)"
	fi
	p_plain=$(free_port)
	redis_start bypass-plain "$p_plain" "$pin_s"
	wait_port "$p_plain" || return 1
	if [ -f "$SECSOCK_SO" ]; then
		pol=$(write_policy bypass "[rule everything]
direction = any
port = any
action = bypass")
		if [ -x "$SECSOCK_CLI" ] && ! why=$("$SECSOCK_CLI" policy check "$pol" 2>&1); then
			not_measured bypass all preload-bypass rps \
				"policy check failed: $(echo "$why" | head -1 | cut -c1-160)"
		elif ! why=$(bypass_check "$pol"); then
			not_measured bypass all preload-bypass rps "bypass check: $why"
		else
			p_by=$(free_port)
			redis_start bypass-preload "$p_by" "$pin_s $(secsock_env bypass-server "$pol" info)"
			if wait_port "$p_by" 5; then
				contenders="$contenders preload-bypass"
			else
				not_measured bypass all preload-bypass rps "redis-server under the preload did not start"
			fi
		fi
	else
		not_measured bypass all preload-bypass rps "$(rel "$SECSOCK_SO") not built yet"
	fi
	log "bypass: contenders: $contenders; $reps repetitions"
	local rep ct
	for rep in $(seq "$reps"); do
		for ct in $(in_order "$rep" $contenders); do
			case $ct in
			no-preload) redis_bench bypass "" no-preload "$pin_c" "$p_plain" 1 ;;
			preload-bypass) redis_bench bypass "" preload-bypass "$pin_c $(secsock_env bypass "$pol" info)" "$p_by" 1 ;;
			esac
		done
		[ $((rep % 5)) = 0 ] && log "bypass: repetition $rep/$reps done"
	done
	stop_all
	# Instruction counts (stable figure).
	if ! command -v valgrind >/dev/null; then
		not_measured bypass "$BYPASS_CG_CASE" no-preload minstr "valgrind not installed"
		return 0
	fi
	for rep in $(seq "$cg_reps"); do
		for ct in $(in_order "$rep" $contenders); do
			case $ct in
			no-preload) bypass_callgrind no-preload "" ;;
			preload-bypass) bypass_callgrind preload-bypass "$(secsock_env bypass-cg "$pol" info)" ;;
			esac
		done
		log "bypass: callgrind pair $rep/$cg_reps done"
	done
}
