# lib-h6-tail.sh — sourced by s60..s62 (a write tail pending inside the
# preload, then a second writer or an ending).  After tests/integration/lib.sh.
#
# tail_case NAME MODE DELAY [--reply]: a preloaded require server
# (tests/tools/sec_h6_peer.py) that waits DELAY seconds before reading, and
# `sec_h6_tail MODE` against it; passes when the peer got exactly the bytes
# the client was told were written ("expect N"), all in the counter pattern,
# and a clean end (close_notify: EOF, not a reset).

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	echo "# lib-h6-tail.sh: helpers for s60..s62 (nothing to run)"
	exit 0
fi

TAIL_POLICY=$T/require.conf
write_policy "$TAIL_POLICY" <<'POL'
[defaults]
action = require
auth   = anonymous
POL

tail_case() {
	local name=$1 mode=$2 delay=$3 reply=${4:-} port want res
	shift 3
	rm -f "$T/$name.port" "$T/$name.res"
	POLICY=$TAIL_POLICY start_bg "peer-$name" preload "$T/peer-$name.log" \
		"$PY" "$REPO/tests/tools/sec_h6_peer.py" "$T/$name.port" "$T/$name.res" "$delay" $reply
	wait_file "$T/$name.port" 10 || { fail "$name: the peer did not start" "$T/peer-$name.err"; return; }
	port=$(cat "$T/$name.port")
	POLICY=$TAIL_POLICY TMO=30 preload "$T/cli-$name.log" "$TOOLS/sec_h6_tail" "$mode" "$port" \
		>"$T/cli-$name.out" 2>&1
	want=$(sed -n 's/^expect //p' "$T/cli-$name.out")
	if [ -z "$want" ]; then
		fail "$name: the client did not reach the pending write" "$T/cli-$name.out"
		return
	fi
	wait_file "$T/$name.res" 25 || { fail "$name: the peer did not finish reading" "$T/peer-$name.err"; return; }
	res=$(cat "$T/$name.res")
	assert_eq "$res" "bytes=$want bad=-1 end=EOF" \
		"$name: every byte written reached the peer, in order, then a clean end" \
		"$T/cli-$name.out" "$T/cli-$name.log" "$T/peer-$name.log"
}
