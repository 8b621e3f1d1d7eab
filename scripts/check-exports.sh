#!/bin/sh
# Fail when libsecsock.so exports anything but interposed libc names and the
# public secsock_* API (STYLE.md: an exported-symbol list checked into the repo).
set -eu
so=$1
map=$(dirname "$0")/../preload/libsecsock.map
allowed=$(sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\);.*/\1/p' "$map" | sort -u)
bad=0
for s in $(nm -D --defined-only "$so" | awk '$2 ~ /^[TWiDBV]$/ {print $3}' | sed 's/@.*//' | sort -u); do
	case "$s" in secsock_*) continue ;; esac
	if ! printf '%s\n' "$allowed" | grep -qx "$s"; then
		echo "check-exports: $so exports internal symbol '$s'" >&2
		bad=1
	fi
done
[ $bad -eq 0 ] && echo "check-exports: ok ($(nm -D --defined-only "$so" | wc -l) symbols)"
exit $bad
