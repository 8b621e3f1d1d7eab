# bench/policy.sh — ns per policy decision at 10/100/1,000 rules, for rules
# on address + port and rules on address only (sourced by run.sh).
# pollookup links libsecsock-core.a and calls pol_load_string once and
# pol_decide in a loop; see src/pollookup.c.

bench_policy() {
	local r why
	if [ ! -f "$CORE_LIB" ]; then
		for r in 10 100 1000; do
			not_measured policy "decide (no rule matches)" "$r rules" ns "$(rel "$CORE_LIB") not built"
		done
		return 0
	fi
	# shellcheck disable=SC2046
	if ! why=$(cc $HELPER_CFLAGS -I"$ROOT/policy" -I"$ROOT/core" -o "$BIN/pollookup" \
		"$BENCH_DIR/src/pollookup.c" "$CORE_LIB" \
		$(pkg-config --libs openssl libsodium inih 2>/dev/null) -lpthread -ldl 2>&1); then
		for r in 10 100 1000; do
			not_measured policy "decide (no rule matches)" "$r rules" ns \
				"pollookup does not link against the core library yet: $(echo "$why" | grep -m1 -E 'undefined|error' | cut -c1-120)"
		done
		return 0
	fi
	# Two rule shapes: address + port (the port index narrows them down)
	# and address only (the address index does).
	local rep out miss last iters shape label
	for rep in $(seq "$REPS"); do
		for r in $(in_order "$rep" 10 100 1000); do
			for shape in port remote; do
				label=""
				[ "$shape" = remote ] && label=", rules on address only"
				iters=$((POL_ITERS * 10 / r))
				[ "$iters" -lt 2000 ] && iters=2000
				if ! out=$(timeout -k 5 300 "$BIN/pollookup" "$r" "$iters" "$shape" 2>"$LOGS/pollookup.err"); then
					record policy "decide$label (no rule matches)" "$r rules" ns "NA:$(head -c 160 "$LOGS/pollookup.err")"
					continue
				fi
				read -r miss last _ <<<"$out"
				record policy "decide$label (no rule matches)" "$r rules" ns "$miss"
				record policy "decide$label (last rule matches)" "$r rules" ns "$last"
			done
		done
	done
}
