#!/bin/sh
# check-layers.sh OBJDIR — the layering of preload/ (docs/design.md
# "Layers"), checked on the built objects: every pre_* symbol an object
# uses is looked up in the objects that define it, and an object of the
# stream engine (or the socket helpers below it) that uses anything from the
# layers above — setup, accept, connect, the handshake driver, readiness,
# the shims — fails the check.  The engine reaches those only through the
# hooks pre_setup.c registers (pre_engine.h).
#   --graph   print the module graph (caller -> callees) and exit 0
set -eu
dir=${1:?usage: check-layers.sh OBJDIR [--graph]}
mode=${2:-check}
# the stream engine and what it stands on; pre_status (the status segment
# publisher, called by the engine at a KeyUpdate) is checked as part of it,
# so it too stays on the layers below
low="pre_wire pre_rx pre_tx pre_io pre_tail pre_engine pre_arena pre_sock pre_state pre_fdtab pre_sym pre_log pre_status"
engine="pre_wire pre_rx pre_tx pre_io pre_tail pre_engine pre_status"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for o in "$dir"/pre_*.o; do
	m=$(basename "$o" .o)
	nm --defined-only "$o" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sed "s/\$/ $m/" >>"$tmp/defs"
done
sort -u "$tmp/defs" -o "$tmp/defs"
for o in "$dir"/pre_*.o; do
	m=$(basename "$o" .o)
	nm -u "$o" | awk '{print $2}' | grep '^pre_' | sort -u >"$tmp/u" || true
	join "$tmp/u" "$tmp/defs" | awk -v m="$m" '$2 != m {print m, $2}' | sort -u >>"$tmp/edges"
done
if [ "$mode" = --graph ]; then
	awk '{a[$1] = a[$1] " " $2} END {for (k in a) print k " ->" a[k]}' "$tmp/edges" | sort
	exit 0
fi
bad=0
for m in $engine; do
	for callee in $(awk -v m="$m" '$1 == m {print $2}' "$tmp/edges"); do
		case " $low " in
		*" $callee "*) ;;
		*)
			echo "check-layers: $m (stream engine) uses $callee, a layer above it:" \
			     "$(nm -u "$dir/$m.o" | awk '{print $2}' | grep '^pre_' | while read -r s; do
			            grep -q "^$s $callee\$" "$tmp/defs" && printf '%s ' "$s"; done)"
			bad=1 ;;
		esac
	done
done
[ "$bad" = 0 ] && echo "check-layers: the stream engine ($engine) uses nothing above it"
exit "$bad"
