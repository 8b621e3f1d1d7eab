#!/usr/bin/env bash
# s60 — exec with a write tail pending (issue 10 finding 12, kit 12 exec):
# a non-blocking secured socket written until EAGAIN while the peer does not
# read, so records the program was told were written are still inside the
# preload; then exec of a program that goes on with the socket.  The tail
# must go with the state and out before anything the new image sends:
# a blocking and a non-blocking new image writing more, one that only
# closes, one that exits without closing, and one holding two dup'd
# descriptors of the socket.  Fails on the library before the fix (the new
# image's first record followed a gap: the peer reset).
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib-h6-tail.sh"
require_lib
require_tools sec_h6_tail

tail_case exec-block exec-block 1.5
tail_case exec-nb    exec-nb    1.5
tail_case exec-close exec-close 1.0
tail_case exec-exit  exec-exit  1.0
tail_case exec-dup   exec-dup   1.5
finish
