#!/usr/bin/env bash
# s61 — a second writer while a write tail is pending (issue 10 finding 12,
# kit 12 fork): a forked child writes (non-blocking, blocking, and a child
# writing megabytes that leaves tails of its own and ends with one, by exit
# and by _exit) while
# the parent's records are still in the parent's preload; then the parent
# writes more.  Also another thread of the same process.  Every record must
# reach the peer after the ones sealed before it.  Fails on the library
# before the fix (the child's records overtook the parent's tail: reset).
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib-h6-tail.sh"
require_lib
require_tools sec_h6_tail

tail_case fork-nb    fork-nb    1.5
tail_case fork-block fork-block 1.5
tail_case fork-fill  fork-fill  1.5
tail_case fork-fill-_exit fork-fill-_exit 1.5
tail_case thread     thread     1.5
finish
