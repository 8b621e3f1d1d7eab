# bench/startup.sh — what loading the preload costs a program that makes no
# socket call at all (sourced by run.sh).  hyperfine, no shell:
#   /bin/true                 env /bin/true
#   LD_PRELOAD /bin/true      env LD_PRELOAD=libsecsock.so /bin/true
# Both go through env(1), so the difference is the preload alone.  Each
# repetition runs both, in alternating order; the figure is hyperfine's
# median of HYPERFINE_RUNS runs.

bench_startup() {
	local contenders="/bin/true"
	if [ -f "$SECSOCK_SO" ]; then
		contenders="$contenders preload"
	else
		not_measured startup "exec /bin/true" preload ms "$(rel "$SECSOCK_SO") not built yet"
	fi
	local rep ct j cmds i
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
