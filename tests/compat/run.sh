#!/usr/bin/env bash
# run.sh [--quick] [--no-deps] [PROG...] — `make compat` (tests/compat/README.md).
#
# For each tests/compat/progs/NAME.sh (or the NAMEs given): four runs, each
# in its own temp dir with every connection through the recording tap —
# plain (baseline), both ends preloaded, the server side alone, the client
# side alone — then a table and an "N passed, M failed" line.  A cell whose
# failure is a known secsock bug is marked in the program file
# (XFAIL_<mode>="reason", written up in tests/compat/KNOWN.md): it prints as
# XFAIL with the reason and counts in neither number; if it passes it prints
# XPASS (remove the mark) and counts as passed.  --quick: only the programs
# with QUICK=1 (the subset `make check` runs).  --no-deps: do not install the
# compat package list (scripts/install-deps.sh --compat).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-$REPO/build}
QUICK=0 DEPS=1 SEL=()
for a in "$@"; do
	case $a in
	--quick) QUICK=1 ;;
	--no-deps) DEPS=0 ;;
	*) SEL+=("$a") ;;
	esac
done
[ -f "$BUILD/libsecsock.so" ] || { echo "compat: $BUILD/libsecsock.so missing (make all)"; exit 2; }
if [ "$DEPS" = 1 ] && [ "$QUICK" = 0 ]; then
	sh "$REPO/scripts/install-deps.sh" --compat || { echo "compat: installing the compat packages failed"; exit 2; }
fi
export BUILD COMPAT_CACHE=$BUILD/compat
mkdir -p "$COMPAT_CACHE"
LOGDIR=$BUILD/compat/logs
rm -rf "$LOGDIR"
mkdir -p "$LOGDIR"
FILES=()
if [ ${#SEL[@]} -gt 0 ]; then
	for n in "${SEL[@]}"; do FILES+=("$HERE/progs/$n.sh"); done
else
	FILES=("$HERE"/progs/*.sh)
fi
NP=0 NF=0 NX=0
ROWS=()
t_start=$(date +%s)
for f in "${FILES[@]}"; do
	[ -f "$f" ] || { echo "compat: no $f"; NF=$((NF + 1)); continue; }
	# the program file's settings, without running anything
	eval "$(NAME= DESC= KIND= QUICK=0 XFAIL_both= XFAIL_srv= XFAIL_cli= XFAIL_plain=; . "$f"
		declare -p NAME DESC KIND QUICK XFAIL_both XFAIL_srv XFAIL_cli XFAIL_plain | sed 's/^declare -- /P_/')"
	[ "$QUICK" = 0 ] || [ "$P_QUICK" = 1 ] || continue
	row="$(printf '%-14s' "$P_NAME")"
	base=""
	notes=()
	for m in plain both srv cli; do
		out=$(bash "$HERE/one.sh" "$f" "$m" 2>&1)
		echo "$out" >"$LOGDIR/$P_NAME.$m.txt"
		res=$(echo "$out" | grep '^RESULT ' | tail -n1)
		[ -n "$res" ] || res="RESULT FAIL - no result line (see $LOGDIR/$P_NAME.$m.txt)"
		st=$(echo "$res" | awk '{print $2}')
		secs=$(echo "$res" | awk '{print $3}')
		why=$(echo "$res" | cut -d' ' -f4-)
		xv=P_XFAIL_$m
		x=${!xv}
		[ "$m" = plain ] && base=$secs
		d=""
		if [ "$m" != plain ] && [ "$secs" != - ] && [ -n "$base" ] && [ "$base" != - ]; then
			d=$(awk -v a="$secs" -v b="$base" 'BEGIN { printf "%+.2f", a - b }')
		fi
		if [ "$st" = PASS ]; then
			if [ -n "$x" ]; then cell="XPASS"; notes+=("$m: XPASS — remove the XFAIL mark ($x)"); else cell="pass"; fi
			NP=$((NP + 1))
		elif [ -n "$x" ]; then
			cell="XFAIL"; NX=$((NX + 1)); notes+=("$m: XFAIL (KNOWN.md): $x")
		else
			cell="FAIL"; NF=$((NF + 1)); notes+=("$m: FAIL: $why")
		fi
		row+=$(printf ' | %-5s %6ss %7s' "$cell" "$secs" "${d:+$d}")
	done
	ROWS+=("$row")
	echo "$row   $P_DESC"
	for n in "${notes[@]}"; do echo "    $n"; done
done
echo
echo "compat table (client wall time per run; delta = extra time over the plain run, i.e. the first-contact cost)"
printf '%-14s | %-21s | %-21s | %-21s | %-21s\n' program plain "both ends" "server alone" "client alone"
for r in "${ROWS[@]}"; do echo "$r"; done
echo "($(( $(date +%s) - t_start )) s; logs in $LOGDIR; $NX expected failures, see tests/compat/KNOWN.md)"
echo "compat: $NP passed, $NF failed"
[ "$NF" -eq 0 ]
