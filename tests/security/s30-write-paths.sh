#!/usr/bin/env bash
# s30-write-paths.sh — issue 10, kit finding 06 (the direct calls): every
# write-like call glibc 2.36 exports, on an established secured connection
# (a preloaded client, a recording relay, a preloaded `require` server).
# None may put the marker on the wire in clear; each either seals it (the
# server receives it) or fails with an errno the program handles:
#   sealed:  write __write send __send sendto sendmsg sendmmsg __sendmmsg
#            writev dprintf vdprintf __dprintf_chk __vdprintf_chk pwritev2
#            pwritev64v2 (offset -1, flags 0 / RWF_NOWAIT / RWF_DSYNC)
#            eventfd_write sendfile splice, and syscall() of SYS_write
#            writev sendto sendmsg sendmmsg pwritev2 sendfile splice;
#   refused: aio_write aio_write64 lio_listio (EINVAL: nothing queued);
#   kernel:  pwrite pwrite64 pwritev pwritev64 pwritev2 with an offset,
#            syscall(SYS_pwrite64) (ESPIPE), vmsplice tee copy_file_range
#            (a socket is not a pipe / regular file).
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/h3-wire.bash"

h3_start "unused"
RND=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')

SEALED="write __write send __send sendto sendmsg sendmmsg __sendmmsg writev dprintf vdprintf
	__dprintf_chk __vdprintf_chk pwritev2 pwritev2-nowait pwritev2-dsync pwritev64v2 sendfile splice
	syscall-write syscall-writev syscall-sendto syscall-sendmsg syscall-sendmmsg syscall-pwritev2
	syscall-sendfile syscall-splice"
REFUSED="aio_write aio_write64 lio_listio"
ESPIPE="pwrite pwrite64 pwritev pwritev64 pwritev2-off0 syscall-pwrite64"
OTHER="vmsplice tee copy_file_range"

n=0
for m in $SEALED $REFUSED $ESPIPE $OTHER eventfd_write; do
	mk="S30-$m-$RND."
	[ "$m" = eventfd_write ] && mk="E8${RND:0:6}"   # the 8 bytes of the value
	h3_client w "$m" "$mk" >>"$T/client.out" 2>&1
	n=$((n + 1))
done
h3_wait_ends "$n" || fail "the server saw $n connections end" "$T/server.err"
stop_pid "$RELAY_PID"

grep -q 'secured outbound' "$T/client.log" || bail "the client's connections were not secured" "$T/client.log"
for m in $SEALED $REFUSED $ESPIPE $OTHER eventfd_write; do
	mk="S30-$m-$RND."
	[ "$m" = eventfd_write ] && mk="E8${RND:0:6}"
	if h3_wire_has "$mk"; then fail "$m: the marker crossed the wire in clear" "$T/client.out"
	else pass "$m: never clear on the wire"; fi
done
for m in $SEALED eventfd_write; do
	mk="S30-$m-$RND."
	[ "$m" = eventfd_write ] && mk="E8${RND:0:6}"
	if h3_server_got "$mk"; then pass "$m: sealed (the server received it)"
	else fail "$m: the server did not receive the marker" "$T/client.out"; fi
done
for m in $REFUSED; do
	assert_grep "^w $m ret=-1 errno=EINVAL$" "$T/client.out" "$m: refused with EINVAL"
done
for m in $ESPIPE; do
	assert_grep "^w $m ret=-1 errno=ESPIPE$" "$T/client.out" "$m: ESPIPE, as the kernel says for a socket"
done
for m in $OTHER; do
	assert_grep "^w $m ret=-1 " "$T/client.out" "$m: fails (the kernel takes no socket)"
done
finish
