#!/bin/sh
# check-key-effects.sh SECSOCK — every policy key has a run-time effect test
# (issue 14 must-show 3).  Reads tests/key-effects.tsv and the key list of
# `SECSOCK policy keys`; fails when a key has no line, a line names no key,
# or a line's test file is missing or no longer contains its text (so a
# renamed check cannot silently drop a key's test).
set -u
cli=${1:?usage: check-key-effects.sh SECSOCK}
here=$(cd "$(dirname "$0")/.." && pwd)
table=$here/tests/key-effects.tsv
keys=$("$cli" policy keys | awk 'NR > 1 { print $1 }') || { echo "check-key-effects: '$cli policy keys' failed"; exit 1; }
bad=0
for k in $keys; do
	grep -q "^$k	" "$table" || { echo "check-key-effects: key '$k' has no run-time test in tests/key-effects.tsv"; bad=1; }
done
n=0
while IFS='	' read -r key file text what; do
	case $key in '#'*|'') continue ;; esac
	n=$((n + 1))
	echo "$keys" | grep -qx "$key" || { echo "check-key-effects: tests/key-effects.tsv names '$key', which is no policy key"; bad=1; }
	if [ ! -f "$here/$file" ]; then
		echo "check-key-effects: $key: $file does not exist"; bad=1
	elif ! grep -qF -- "$text" "$here/$file"; then
		echo "check-key-effects: $key: $file no longer contains: $text"; bad=1
	fi
	[ -n "$what" ] || { echo "check-key-effects: $key: say what $file shows"; bad=1; }
done <"$table"
[ "$bad" = 0 ] && echo "check-key-effects: ok ($(echo "$keys" | wc -l) keys, $n tests)"
exit "$bad"
