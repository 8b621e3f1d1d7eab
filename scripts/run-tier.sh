#!/bin/bash
# run-tier.sh NAME SCRIPT... — run one tier's test scripts in order, stop at
# the first failure, and print each script's wall time and the slowest five,
# so the cost of the default suite stays visible (CI budget: well under 20
# minutes on 2 cores; long runs belong in `make soak` / `make compat`).
# BUILD must be set (absolute) by the caller.
set -u
tier=$1; shift
declare -a times=()
t0=$SECONDS
for s in "$@"; do
	echo "== $s"
	start=$SECONDS
	bash "$s" || { echo "$tier: $s failed after $((SECONDS - start)) s"; exit 1; }
	times+=("$((SECONDS - start)) $s")
	echo "-- $s: $((SECONDS - start)) s"
done
echo "$tier: $# scripts passed in $((SECONDS - t0)) s; slowest:"
printf '%s\n' "${times[@]}" | sort -rn | head -5 | sed 's/^/   /'
