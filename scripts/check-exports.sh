#!/bin/sh
# check-exports.sh LIB... — fail when a library exports more than it should
# (STYLE.md: an exported-symbol list checked into the repo).
#   libsecsock.so         the interposed libc names (preload/libsecsock.map)
#                         and the public secsock_* API; and it must not
#                         need libssl or libcrypto;
#   libsecsock-engine.so  only secsock_engine_* (core/ss_engine.map): the
#                         preload reaches core/ through that one table, and
#                         anything else exported could be bound by the
#                         program instead of its own libraries.
set -eu
here=$(dirname "$0")/..
names() { sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\);.*/\1/p' "$1" | sort -u; }
status=0
for so in "$@"; do
	case $(basename "$so") in
	libsecsock-engine*.so) allowed=$(names "$here/core/ss_engine.map"); prefix=secsock_engine_ ;;
	*) allowed=$(names "$here/preload/libsecsock.map"); prefix=secsock_ ;;
	esac
	[ -f "$so" ] || { echo "check-exports: $so: no such file" >&2; status=1; continue; }
	bad=0
	for s in $(nm -D --defined-only "$so" | awk '$2 ~ /^[TWiDBVRu]$/ {print $3}' | sed 's/@.*//' | sort -u); do
		case "$s" in "$prefix"*) continue ;; esac
		if ! printf '%s\n' "$allowed" | grep -qx "$s"; then
			echo "check-exports: $so exports internal symbol '$s'" >&2
			bad=1
		fi
	done
	# The preload starts without OpenSSL (docs/design.md "Two libraries"):
	# only the engine it dlopens may need libssl/libcrypto.
	case $(basename "$so") in
	libsecsock-engine*.so) ;;
	*) if readelf -d "$so" | grep -E 'NEEDED.*lib(ssl|crypto)\.so' >/dev/null; then
		echo "check-exports: $so needs libssl/libcrypto (only libsecsock-engine.so may)" >&2
		bad=1
	   fi ;;
	esac
	if [ $bad -eq 0 ]; then
		echo "check-exports: ok $(basename "$so") ($(nm -D --defined-only "$so" | wc -l) symbols)"
	else
		status=1
	fi
done
exit $status
