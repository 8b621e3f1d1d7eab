#!/usr/bin/env bash
# s32-unseen-close.sh — issue 10, kit finding 13: a secured socket on fd 3
# (with a dup on fd 5) is closed by a path close() does not see, then a new
# file gets number 3.  After any close the number is forgotten: the file
# is read and written like any file and holds exactly what was written (no
# record, no close_notify alert in it), and the connection's other
# descriptor keeps working, sealed.
#   closes:  closefrom(3) (glibc calls the close_range system call itself),
#            close_range(3,3,0), close_range(3,4,CLOSE_RANGE_UNSHARE),
#            syscall(SYS_close), syscall(SYS_close_range), and the raw
#            syscall instruction (no libc function at all);
#   reuses of 3 after the raw close: open, openat, creat, syscall(SYS_openat),
#            fopen (glibc opens internally: no shim sees the number), pipe,
#            socketpair, eventfd, memfd_create, dup;
#   write(fileno(fopen(...))) on the reused number;
#   and close_range with flags the kernel refuses (EINVAL): nothing was
#            closed, so fd 3 must still be sealed, never clear.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/h3-wire.bash"

h3_start "unused"
RND=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')

CLOSES="close_range close_range-unshare syscall-close syscall-close_range raw-close raw-close-openat
	raw-close-creat raw-close-syscall-openat raw-close-fopen raw-close-pipe raw-close-socketpair
	raw-close-eventfd raw-close-memfd raw-close-dup"
n=0
for m in closefrom $CLOSES raw-close-fopen-write bad-flags; do
	h3_client c "$m" "$T/file-$m" "S32-$m-$RND." >>"$T/client.out" 2>&1
	n=$((n + 1))
done
h3_wait_ends "$n" || fail "the server saw $n connections end" "$T/server.err"
stop_pid "$RELAY_PID"

grep -q 'secured outbound' "$T/client.log" || bail "the client's connections were not secured" "$T/client.log"
assert_grep "^c closefrom close=0 fd=3 file=ok " "$T/client.out" "closefrom(3): the file on fd 3 is a plain file"
for m in $CLOSES; do
	assert_grep "^c $m close=0 (\\[dup\\] )?fd=3 file=ok " "$T/client.out" \
		"$m: the new descriptor 3 works as itself" "$T/client.log"
done
for m in $CLOSES; do
	mk="S32-$m-$RND."
	assert_grep "^c $m .* dup-write=${#mk} echo=${#mk}$" "$T/client.out" "$m: the dup on fd 5 still works (written, echoed)"
	if h3_server_got "$mk" && ! h3_wire_has "$mk"; then pass "$m: and it is sealed"
	else fail "$m: the dup's marker was not sealed"; fi
done
# write(fileno(fopen(...))) on the reused number: the failed governed write
# finds the number is no longer the socket and is redone as a plain write.
# The connection's sequence number moved on for that record, so its other
# descriptor now fails (an error the program handles) — never clear.
assert_grep "^c raw-close-fopen-write close=0 fd=3 file=ok " "$T/client.out" \
	"raw-close-fopen-write: write() on the fopen'd number reaches the file" "$T/client.log"
if h3_wire_has "S32-raw-close-fopen-write-$RND."; then fail "raw-close-fopen-write: the dup's marker crossed in clear"
else pass "raw-close-fopen-write: the dup's marker never crossed in clear"; fi
assert_grep "^c bad-flags close_range=-1 errno=EINVAL write=[0-9]+$" "$T/client.out" "close_range with unknown flags: EINVAL, nothing closed"
mk="S32-bad-flags-$RND."
if h3_server_got "$mk" && ! h3_wire_has "$mk"; then pass "bad-flags: fd 3 is still sealed afterwards"
else fail "bad-flags: the write after the refused close_range was not sealed"; fi
# Only the connections that really ended say close_notify: no truncation.
grep -v "conn-$((n - 1)) " "$T/srv/ends" >"$T/ends.clean"   # fopen-write: the failed one
assert_no_grep 'truncation|error' "$T/ends.clean" "every other connection ended with a clean close at the server"
finish
