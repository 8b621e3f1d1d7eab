#!/usr/bin/env bash
# s33-syscall.sh — issue 10, kit finding 06 (syscall()): the numbers that
# connect, accept, duplicate, configure, shut down, fork and exec, made with
# syscall() instead of their libc functions, behave as the libc calls do
# under the preload (the data numbers are in s30/s31, the closes in s32):
#   SYS_socket+SYS_connect and SYS_sendto(MSG_FASTOPEN) to a plain server
#     under require: refused, the plain server receives nothing;
#   SYS_accept / SYS_accept4 under require: a plain client's bytes are never
#     handed over, a secsock client's are (plaintext);
#   SYS_dup, SYS_dup2, SYS_dup3, SYS_fcntl(F_DUPFD): the copy is sealed;
#   SYS_ioctl(FIONREAD) counts plaintext, SYS_recvmmsg returns it;
#   SYS_shutdown(SHUT_WR) says close_notify (a clean end, not truncation);
#   SYS_execve: the new image gets the connection (its write is sealed);
#   SYS_fork: child and parent both write sealed.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/h3-wire.bash"
require_tools sec_h3_raw

RND=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
PAYLOAD="S33-PAYLOAD-$RND."
h3_start "$PAYLOAD"
mkdir -p "$T/plain"
start_bg plain plain "$PY" "$REPO/tests/tools/sec_h3_server.py" "$T/plain.port" "$T/plain" x
wait_file "$T/plain.port" 10 || bail "plain server did not start" "$T/plain.err"
PLAIN_PORT=$(cat "$T/plain.port")

raw() { TMO=20 preload "$T/client.log" "$TOOLS/sec_h3_raw" "$@" >>"$T/raw.out" 2>&1; }

# ---- implicit and explicit connects to a plain server under require
raw connect "$PLAIN_PORT" "S33-connect-$RND."
raw tfo "$PLAIN_PORT" "S33-tfo-$RND."
assert_grep "^connect ret=-1 " "$T/raw.out" "SYS_connect to a plain server under require: refused" "$T/client.log"
assert_grep "^tfo ret=-1 " "$T/raw.out" "SYS_sendto(MSG_FASTOPEN) to a plain server under require: refused"
sleep 0.3
if grep -aq "S33-" "$T/plain"/conn-*.in 2>/dev/null; then fail "the plain server received a marker"
else pass "the plain server received nothing"; fi

# ---- the secured connection's own calls
raw dup "$H3_PORT" "S33-dup-$RND"
raw fionread "$H3_PORT"
raw shutdown "$H3_PORT" "S33-shutdown-$RND."
raw execve "$H3_PORT" "QS33-execve-$RND."   # Q: no echo (sec_h3_server.py)
raw fork "$H3_PORT" "S33-fork-$RND"
h3_wait_ends 5 || fail "the server saw 5 connections end" "$T/server.err"
for how in dup dup2 dup3 fcntl; do
	mk="S33-dup-$RND-$how."
	assert_grep "^dup $how fd=[0-9]+ write=${#mk}$" "$T/raw.out" "SYS_$how copy: written"
	if h3_server_got "$mk" && ! h3_wire_has "$mk"; then pass "SYS_$how copy: sealed"
	else fail "SYS_$how copy: not sealed" "$T/raw.out"; fi
done
assert_grep "^fionread ret=0 n=${#PAYLOAD} recvmmsg=1 len=${#PAYLOAD} data=${PAYLOAD//./\\.}$" "$T/raw.out" \
	"SYS_ioctl(FIONREAD) counts the plaintext; SYS_recvmmsg returns it"
mk="S33-shutdown-$RND."
assert_grep "^shutdown write=${#mk} shutdown=0 echo=${mk//./\\.}$" "$T/raw.out" "SYS_shutdown(SHUT_WR): echo read to the end"
# conn-4 (the exec'd /bin/sh) is left out: an exec'd sh that writes to an
# inherited secured socket and exits resets it — with libc's execve too,
# and on the library before this work (exec hand-off, not syscall()).
grep -v '^conn-4 ' "$T/srv/ends" >"$T/ends.clean"
assert_no_grep "truncation|error" "$T/ends.clean" "every other connection ended cleanly at the server (SHUT_WR said close_notify)"
for mk in "S33-shutdown-$RND." "QS33-execve-$RND." "S33-fork-$RND-child." "S33-fork-$RND-parent."; do
	if h3_server_got "$mk" && ! h3_wire_has "$mk"; then pass "${mk%-$RND*}${mk##*$RND}: sealed"
	else fail "$mk: not sealed" "$T/raw.out" "$T/client.log"; fi
done
if h3_wire_has "$PAYLOAD"; then fail "the payload crossed the wire in clear"; else pass "the payload never crossed the wire in clear"; fi

# ---- accept through syscall() under require
for nr in accept accept4; do
	for peer in plain secsock; do
		rm -f "$T/acc.port"
		start_bg "acc-$nr-$peer" preload "$T/acc.log" "$TOOLS/sec_h3_raw" accept "$nr" "$T/acc.port"
		apid=$BG_PID
		wait_file "$T/acc.port" 10 || bail "accept server did not start" "$T/acc-$nr-$peer.err"
		mk="S33-$nr-$peer-$RND."
		if [ "$peer" = plain ]; then
			plain "$PY" -c 'import socket,sys,time
s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.sendall(sys.argv[2].encode()); time.sleep(1)' \
				"$(cat "$T/acc.port")" "$mk" >/dev/null 2>&1
		else
			TMO=20 preload "$T/acc-cli.log" "$TOOLS/sec_h3_calls" "$(cat "$T/acc.port")" w write "$mk" >/dev/null 2>&1
		fi
		wait_gone "$apid" 10
		out=$T/acc-$nr-$peer.out
		if [ "$peer" = plain ]; then
			assert_no_grep "data=S33" "$out" "SYS_$nr under require: a plain client's bytes are not handed over" "$T/acc.log"
		else
			assert_grep "^accept read=${#mk} \(ok\) data=${mk//./\\.}$" "$out" "SYS_$nr under require: a secsock client's plaintext" "$T/acc.log"
		fi
	done
done
finish
