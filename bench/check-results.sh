#!/usr/bin/env bash
# bench/check-results.sh DIR — is a bench run's output complete?  (make
# check-bench: the bench-quick smoke run in CI.)  It checks that the harness
# worked, never the figures themselves: those are noisy on shared machines
# and belong in the results, not in a pass/fail (issue 6).
#   - DIR/latest.md and DIR/latest.tsv exist;
#   - every issue 6 target has a row with a verdict ("met" or "not met"),
#     i.e. each comparison produced the figures its verdict needs;
#   - no comparison row says "not measured" (a contender that failed to
#     start, a tool that is missing);
#   - the three plots are PNG files.
set -u
dir=${1:?usage: bench/check-results.sh DIR}
md=$dir/latest.md
fails=0
bad() { echo "check-results: $*" >&2; fails=$((fails + 1)); }

[ -s "$md" ] || { bad "$md is missing or empty"; exit 1; }
[ -s "$dir/latest.tsv" ] || bad "$dir/latest.tsv is missing or empty"
for t in 'bulk ≥ 90% of model limit' 'redis ≥ 85% of plain' 'redis above redis --tls' \
	'full-handshake CPU ≤ 1.10× openssl s_time' '≤ 1 KiB heap per idle secured connection' \
	'start-up cost ≤ 1 ms' 'bypassed sockets ≤ 2% slower' \
	'resumed ≥ 3× full-handshake rate, in-process' 'resumed ≥ 3× full-handshake rate, a process per connection' \
	'redis GET -c 50 ≥ 90% of plain' \
	'redis GET -P 16 -c 50 ≥ 80% of plain'; do
	row=$(grep -F "| $t" "$md" | head -1)
	if [ -z "$row" ]; then
		bad "no target row '$t'"
	elif ! printf '%s\n' "$row" | grep -Eq '\| (met|\*\*not met\*\*) \|$'; then
		bad "target '$t' has no verdict: $(printf '%s' "$row" | cut -c1-200)"
	fi
done
if grep -n 'not measured' "$md" >&2; then
	bad "comparisons were not measured (lines above)"
fi
for p in bulk redis connect; do
	if [ "$(head -c 8 "$dir/$p.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" != 89504e470d0a1a0a ]; then
		bad "$dir/$p.png is not a PNG"
	fi
done
if [ "$fails" -ne 0 ]; then
	echo "check-results: $fails problem(s) in $dir" >&2
	exit 1
fi
echo "check-results: $md complete (7 targets with verdicts, all comparisons measured, 3 plots)"
