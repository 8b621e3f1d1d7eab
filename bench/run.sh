#!/usr/bin/env bash
# bench/run.sh — secsock's overhead against plain TCP, stunnel, spiped and
# native TLS, measured on this machine in one run (issue 6).
#
#   bench/run.sh [--quick] [--reps N] [--only LIST] [--out DIR] [--keep]
#
#   --quick    short smoke run (~2 minutes): fewer repetitions, shorter runs
#   --reps N   repetitions per comparison (default 5, quick 3)
#   --only     comma list of: bulk,redis,connect,latency,memory,startup,bypass,policy
#              (default), and kds (KDS GetKey rate, bench/kds.sh; not in the default
#              list until bench/summarize.py has a section for it)
#   --out DIR  where latest.md and the PNGs go (default bench/results)
#   --keep     keep the work directory (logs, raw data) for inspection
#
# Environment: BUILD (default ./build) holds libsecsock.so, libsecsock-core.a
# and gets bench/ helpers; SECSOCK_SO overrides the preload library.
#
# Every comparison runs its contenders alternately, repetition after
# repetition, so a slow spell on this shared machine hits all of them alike;
# summarize.py reports medians, min–max and ratios to the plain figure.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

QUICK=0
REPS=""
ONLY="bulk,redis,connect,latency,memory,startup,bypass,policy"
OUT="$BENCH_DIR/results"
KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--reps) REPS=$2; shift ;;
	--only) ONLY=$2; shift ;;
	--out) OUT=$2; shift ;;
	--keep) KEEP=1 ;;
	-h | --help) sed -n '2,18p' "$0"; exit 0 ;;
	*) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

BUILD=${BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SECSOCK_SO=${SECSOCK_SO:-$BUILD/libsecsock.so}
SECSOCK_CLI=${SECSOCK_CLI:-$BUILD/secsock}
CORE_LIB=$BUILD/libsecsock-core.a
BIN=$BUILD/bench
mkdir -p "$BIN" "$OUT"

# Durations: full run vs smoke run.
if [ "$QUICK" = 1 ]; then
	REPS=${REPS:-3}
	BULK_SECONDS=1 AEAD_SECONDS=1 REDIS_N=5000 CONN_SECONDS=1
	PING_ITERS=5000 IDLE_CONNS=1000 HYPERFINE_RUNS=100 POL_ITERS=1000000
else
	REPS=${REPS:-5}
	BULK_SECONDS=3 AEAD_SECONDS=2 REDIS_N=50000 CONN_SECONDS=5
	PING_ITERS=50000 IDLE_CONNS=10000 HYPERFINE_RUNS=300 POL_ITERS=5000000
fi

WORK=$(mktemp -d /tmp/secsock-bench.XXXXXX)
chmod 0700 "$WORK"
LOGS=$WORK/logs CERTS=$WORK/certs POLDIR=$WORK/policy
mkdir -p "$LOGS" "$CERTS" "$POLDIR"
chmod 0700 "$POLDIR" "$CERTS"
RAW=$WORK/raw.tsv META=$WORK/meta.tsv
: >"$RAW"
: >"$META"

# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_all
	if [ "$KEEP" = 1 ]; then
		log "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for f in bulk redis connect latency memory startup bypass policy kds; do
	# shellcheck source=/dev/null
	. "$BENCH_DIR/$f.sh"
done

# ---------------------------------------------------------------- set-up
"$BENCH_DIR/install-deps.sh"

log "compiling helpers into $BIN"
HELPER_CFLAGS="-std=c17 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Wshadow"
for h in connrate pingpong idleconn; do
	cc $HELPER_CFLAGS -pthread -o "$BIN/$h" "$BENCH_DIR/src/$h.c"
done

# 10,000 idle connections need that many fds in each process, and more.
want_fds=$((IDLE_CONNS + 1000))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want_fds" ]; then
	ulimit -Hn "$want_fds" 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
	IDLE_CONNS=$(($(ulimit -n) - 1000))
	log "fd limit $(ulimit -n): idle connections reduced to $IDLE_CONNS"
fi

make_certs

meta mode "$([ "$QUICK" = 1 ] && echo "quick (bench/run.sh --quick)" || echo "full (bench/run.sh)")"
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(
	git -C "$ROOT" status --porcelain -- core policy preload 2>/dev/null | grep -q . &&
		echo " + uncommitted changes in core/policy/preload")"
meta cpu "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
meta cores "$(nproc)"
meta kernel "$(uname -r)"
meta memory "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
meta openssl "$(openssl version | cut -d' ' -f1-2)"
meta iperf3 "$(iperf3 --version 2>/dev/null | head -1 | awk '{print $2}')"
meta redis "$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')"
meta stunnel "$(stunnel -version 2>&1 | awk '/^stunnel/ {print $2; exit}')"
meta spiped "$(spiped -v 2>&1 | awk '{print $2; exit}')"
meta socat "$(socat -V 2>/dev/null | awk '/socat version/ {print $3; exit}')"
meta hyperfine "$(hyperfine --version | awk '{print $2}')"
meta repetitions "$REPS"
meta load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
meta durations "iperf3 ${BULK_SECONDS}s, openssl speed ${AEAD_SECONDS}s, redis-benchmark -n $REDIS_N, connect ${CONN_SECONDS}s, ping-pong $PING_ITERS round trips, $IDLE_CONNS idle connections"
meta fd_limit "$(ulimit -n)"

secsock_probe
if [ "$SECSOCK_READY" = 1 ]; then
	meta secsock "$(rel "$SECSOCK_SO") (socat probe: secured)"
	log "preload works: $SECSOCK_SO"
else
	meta secsock "not measured: $SECSOCK_WHY"
	log "preload not usable: $SECSOCK_WHY"
fi

# ---------------------------------------------------------------- comparisons
t_start=$(date +%s)
IFS=, read -r -a wanted <<<"$ONLY"
for c in "${wanted[@]}"; do
	log "=== $c"
	t0=$(date +%s)
	if ! "bench_$c"; then
		log "$c: comparison failed (see logs)"
		meta "failed_$c" "the comparison script stopped early; see its rows"
	fi
	stop_all
	log "=== $c done in $(($(date +%s) - t0))s"
done
meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
# What the preload said it did, per log (secured / clear / bypass / refused …):
# a contender that was silently left in clear would show here.
for f in "$LOGS"/secsock-*.log; do
	[ -s "$f" ] || continue
	n=$(basename "$f" .log)
	meta "log ${n#secsock-}" "$(awk '{print $3 " " $4}' "$f" | sort | uniq -c |
		awk '{printf "%s%d %s %s", (NR > 1 ? ", " : ""), $1, $2, $3}')"
done
meta elapsed "$(($(date +%s) - t_start)) s"

# ---------------------------------------------------------------- results
cp "$RAW" "$OUT/latest.tsv"
# The README shows the committed results, so only a run into bench/results updates it.
readme_args=()
[ "$(cd "$OUT" && pwd)" = "$BENCH_DIR/results" ] &&
	readme_args=(--readme "$BENCH_DIR/README.md" --readme "$BENCH_DIR/../README.md")
python3 "$BENCH_DIR/summarize.py" --raw "$RAW" --meta "$META" --out "$OUT" "${readme_args[@]}"
for g in "$OUT"/*.gp; do
	[ -e "$g" ] || continue
	(cd "$OUT" && gnuplot "$(basename "$g")") || log "gnuplot failed on $g"
	rm -f "$g" "${g%.gp}.dat"
done
log "results: $OUT/latest.md"
