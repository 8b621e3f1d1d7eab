#!/usr/bin/env bash
# s31-read-paths.sh — issue 10, promise 2 on the read side of kit finding
# 06: every read-like call glibc 2.36 exports, on an established secured
# connection whose server answered with PAYLOAD.  A call either returns
# plaintext (a prefix of PAYLOAD) or fails with an errno the program
# handles — never the ciphertext records:
#   plaintext: read __read recv __recv recvfrom recvmsg recvmmsg readv
#              preadv2 preadv64v2 (offset -1, flags 0 / RWF_NOWAIT)
#              eventfd_read (8 bytes), sendfile and splice from the socket
#              into a pipe, and syscall() of SYS_read readv recvfrom
#              recvmsg preadv2 sendfile splice;
#   refused:   aio_read aio_read64 lio_listio (EINVAL: nothing queued);
#   kernel:    pread preadv (ESPIPE).
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/h3-wire.bash"

RND=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
PAYLOAD="S31-PAYLOAD-$RND-plaintext."
h3_start "$PAYLOAD"

PLAIN="read __read recv __recv recvfrom recvmsg recvmmsg readv preadv2 preadv2-nowait preadv64v2
	sendfile splice syscall-read syscall-readv syscall-recvfrom syscall-recvmsg syscall-preadv2
	syscall-sendfile syscall-splice"
REFUSED="aio_read aio_read64 lio_listio"
ESPIPE="pread preadv"

n=0
for m in $PLAIN $REFUSED $ESPIPE eventfd_read; do
	h3_client r "$m" >>"$T/client.out" 2>&1
	n=$((n + 1))
done
h3_wait_ends "$n" || fail "the server saw $n connections end" "$T/server.err"
stop_pid "$RELAY_PID"

grep -q 'secured outbound' "$T/client.log" || bail "the client's connections were not secured" "$T/client.log"
if h3_wire_has "$PAYLOAD"; then fail "the payload crossed the wire in clear"; else pass "the payload never crossed the wire in clear"; fi
for m in $PLAIN; do
	assert_grep "^r $m ret=${#PAYLOAD} errno=0 data=${PAYLOAD//./\\.}$" "$T/client.out" "$m: returns the plaintext"
done
assert_grep "^r eventfd_read ret=8 errno=0 data=${PAYLOAD:0:8}$" "$T/client.out" "eventfd_read: the plaintext's first 8 bytes"
for m in $REFUSED; do
	assert_grep "^r $m ret=-1 errno=EINVAL data=$" "$T/client.out" "$m: refused with EINVAL"
done
for m in $ESPIPE; do
	assert_grep "^r $m ret=-1 errno=ESPIPE data=$" "$T/client.out" "$m: ESPIPE, as the kernel says for a socket"
done
finish
