#!/usr/bin/env bash
# s62 — the program ends the stream while a write tail is pending: close()
# (the process lives on; the peer reads only after 2 s, longer than close
# may block), close of the last of two dup'd descriptors, shutdown(SHUT_WR)
# (close_notify and FIN after the tail; a write after it fails with EPIPE;
# the peer's answer still arrives), and exit() without close.  close_notify
# must follow the last record.  And close followed by exec of another image
# (the engine that finishes the close does not survive it).  Fails on the library before the fix (close
# gave up after 1 s: the tail was dropped and the peer saw a truncation).
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib-h6-tail.sh"
require_lib
require_tools sec_h6_tail

tail_case close    close    2.5
tail_case dup      dup      2.5
tail_case shutdown shutdown 2.5 --reply
assert_grep '^reply BYE' "$T/cli-shutdown.out" "shutdown: the peer's answer after the half-close arrives"
assert_no_grep 'not EPIPE' "$T/cli-shutdown.out" "shutdown: a write after SHUT_WR fails with EPIPE"
tail_case exit     exit     1.0
tail_case close-exec close-exec 1.0
finish
