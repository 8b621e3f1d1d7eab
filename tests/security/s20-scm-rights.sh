#!/usr/bin/env bash
# s20-scm-rights.sh — a governed socket handed to another process with
# SCM_RIGHTS is never written in clear (issue 10, finding 03): the hand-off
# is refused (sendmsg/sendmmsg fail with EPERM, nothing sent) and the
# sender's connection keeps working.  The class: an unrelated receiver
# (plain and preloaded) and a forked child; one fd, several fds in one
# cmsg, several cmsgs, a last cmsg without its padding (glibc's CMSG_NXTHDR
# does not walk to it, the kernel does), a dup of the socket, sendmmsg with
# the socket in the first and in a later message; and an accepted
# connection not yet classified.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/h2-common.bash"
require_lib
require_tools sec_h2_scm ss_relay
sink_start
SCM=$TOOLS/sec_h2_scm

# run_pass RECEIVER VARIANT: RECEIVER is plain or preload.
run_pass() {
	local who=$1 v=$2 mark="SECRET-s20-$1-$2" sock=$T/u-$1-$2.sock rpid
	if [ "$who" = plain ]; then
		start_bg "recv-$who-$v" plain "$SCM" recv "$sock" "$mark"
	else
		start_bg "recv-$who-$v" preload "$T/recv.log" "$SCM" recv "$sock" "$mark"
	fi
	rpid=$BG_PID
	TMO=20 preload "$T/pass.log" "$SCM" pass "$SINK_PORT" "$sock" "$v" >"$T/pass-$who-$v.out" 2>&1
	sleep 0.3
	stop_pid "$rpid"
	if [ "$v" = mmsg1 ]; then
		assert_grep '^send: 1 ' "$T/pass-$who-$v.out" "$who receiver, $v: sendmmsg sent the message before the socket's only"
	else
		assert_grep '^send: -1 Operation not permitted' "$T/pass-$who-$v.out" "$who receiver, $v: the hand-off is refused with EPERM"
	fi
	assert_grep '^after: [0-9]+ ok' "$T/pass-$who-$v.out" "$who receiver, $v: the sender's connection still works"
	wait_grep "AFTER-$v" "$T/sink.data" 5
	assert_grep "AFTER-$v" "$T/sink.data" "$who receiver, $v: its later bytes reach the server (secured)"
	MARKS+=("$mark|$who receiver, $v")
}
MARKS=()

for v in one many multi odd dup mmsg0 mmsg1; do run_pass plain "$v"; done
for v in one mmsg1; do run_pass preload "$v"; done
assert_grep "info: secured outbound" "$T/pass.log" "the senders' connections were secured"

# a forked child (the same preloaded image) receiving over a socketpair
for v in one many odd mmsg0; do
	mark="SECRET-s20-child-$v"
	TMO=20 preload "$T/child.log" "$SCM" child "$SINK_PORT" "$v" "$mark" >"$T/child-$v.out" 2>&1
	assert_grep '^send: -1 Operation not permitted' "$T/child-$v.out" "forked child, $v: the hand-off is refused with EPERM"
	MARKS+=("$mark|forked child, $v")
done

# an accepted connection still undecided (the server has read nothing yet):
# a plain client connects, the preloaded server passes the socket at once.
port=$(free_port)
mark=SECRET-s20-accepted
start_bg recv-acc plain "$SCM" recv "$T/u-acc.sock" "$mark"
rpid=$BG_PID
start_bg srvpass preload "$T/srvpass.log" "$SCM" srvpass "$port" "$T/u-acc.sock" one
spid=$BG_PID
wait_listen "$port" 10 "$spid" || bail "srvpass did not listen" "$T/srvpass.out"
"$PY" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(2)
got = b""
try:
    while True:
        b = s.recv(4096)
        if not b: break
        got += b
except OSError:
    pass
sys.stdout.buffer.write(got)' "$port" >"$T/acc-client.out" 2>&1
wait_gone "$spid" 5
stop_pid "$rpid"
assert_grep '^send: -1 Operation not permitted' "$T/srvpass.out" "accepted (undecided): the hand-off is refused with EPERM"
assert_no_grep "$mark" "$T/acc-client.out" "accepted (undecided): the client never received the receiver's clear bytes"
# the relay's recordings are complete once it has stopped
stop_pid "$RELAY_PID"
for m in "${MARKS[@]}"; do
	if wire_clear "${m%%|*}"; then fail "${m#*|}: the receiving process wrote on the socket in clear"
	else pass "${m#*|}: no clear byte from the receiving process"; fi
done
finish
