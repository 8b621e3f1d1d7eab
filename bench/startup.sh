# bench/startup.sh — what loading the preload costs a program that makes no
# socket call at all (sourced by run.sh).  hyperfine, no shell:
#   /bin/true                 env /bin/true
#   LD_PRELOAD /bin/true      env LD_PRELOAD=libsecsock.so /bin/true
# Both go through env(1), so the difference is the preload alone.  Each
# repetition runs both, in alternating order; the figure is hyperfine's
# median of HYPERFINE_RUNS runs.
#
# The preload must not bring OpenSSL in here: it lives in
# libsecsock-engine.so, loaded only on the first governed connection
# (docs/design.md "Two libraries").  The loader's own account of the run
# (LD_DEBUG=files: which objects; LD_DEBUG=statistics: relocations) is
# kept in the logs and the results header, and a run where libssl,
# libcrypto or the engine got mapped is logged, since it would measure the
# wrong thing.

# relocs LD_DEBUG_STATISTICS_LOG: "symbol + relative" relocation counts.
relocs() {
	awk '/ number of relocations:/ {n = $NF} / number of relative relocations:/ {r = $NF}
	     END {print n " + " r}' "$1"
}

bench_startup() {
	local contenders="/bin/true"
	if [ -f "$SECSOCK_SO" ]; then
		contenders="$contenders preload"
	else
		not_measured startup "exec /bin/true" preload ms "$(rel "$SECSOCK_SO") not built yet"
	fi
	local rep ct j cmds i
	if [ -f "$SECSOCK_SO" ]; then
		env LD_PRELOAD="$SECSOCK_SO" LD_DEBUG=files /bin/true 2>"$LOGS/startup-ld-files.log"
		if grep -E 'file=[^ ]*(libssl|libcrypto|libsecsock-engine)' "$LOGS/startup-ld-files.log" >/dev/null; then
			log "startup: the preload mapped OpenSSL or the engine at start-up (see $LOGS/startup-ld-files.log)"
		fi
		env LD_PRELOAD="$SECSOCK_SO" LD_DEBUG=statistics /bin/true 2>"$LOGS/startup-ld-stats.log"
		LD_DEBUG=statistics /bin/true 2>"$LOGS/startup-ld-stats-none.log"
		meta "start-up relocations (symbol + relative), /bin/true vs preloaded" \
			"$(relocs "$LOGS/startup-ld-stats-none.log") vs $(relocs "$LOGS/startup-ld-stats.log")"
	fi
	for rep in $(seq "$REPS"); do
		cmds=()
		for ct in $(in_order "$rep" $contenders); do
			case $ct in
			/bin/true) cmds+=("env /bin/true") ;;
			preload) cmds+=("env LD_PRELOAD=$SECSOCK_SO /bin/true") ;;
			esac
		done
		j=$WORK/hyperfine-$rep.json
		if ! hyperfine -N --style none --warmup 20 --runs "$HYPERFINE_RUNS" --export-json "$j" \
			"${cmds[@]}" >"$LOGS/hyperfine-$rep.log" 2>&1; then
			log "startup: hyperfine failed (see $LOGS/hyperfine-$rep.log)"
			continue
		fi
		i=0
		for ct in $(in_order "$rep" $contenders); do
			record startup "exec /bin/true" "$ct" ms \
				"$(jq -r ".results[$i].median * 1000" "$j")"
			i=$((i + 1))
		done
	done
}
