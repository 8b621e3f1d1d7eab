#!/usr/bin/env bash
# 37-demo.sh — issue 4, must-show 7: the README's first command (`make demo`,
# which runs scripts/demo.sh after building) proves from the wire that an
# unmodified client and server talked securely.  Runs the script against
# $BUILD and checks its exit status and the story it tells.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools ss_relay
require_no_system_policy

TMO=120 plain env BUILD="$BUILD" bash "$REPO/scripts/demo.sh" >"$T/demo.out" 2>&1
rc=$?
sed 's/^/#   | /' "$T/demo.out"
assert_eq "$rc" 0 "scripts/demo.sh exits 0 (proof holds)" "$T/demo.out"
assert_grep 'info: secured outbound .*cipher=' "$T/demo.out" "demo shows the client's 'secured ... cipher=' log line"
assert_grep 'info: secured inbound .*cipher=' "$T/demo.out" "demo shows the server's 'secured ... cipher=' log line"
assert_grep '^ +0000[0-9a-f]{2} 16 03 0[13] ' "$T/demo.out" "demo shows a hex excerpt of the wire starting with a TLS handshake record"
assert_count "marker '[^']+' found in plaintext payload on the wire: no" "$T/demo.out" 1 "demo: marker not on the secured wire"
assert_count "marker '[^']+' found in plaintext payload on the wire: yes" "$T/demo.out" 1 "demo: marker on the wire without secsock (contrast)"
assert_no_grep 'PROBLEM' "$T/demo.out" "demo reports no problem"
# the Makefile's demo target runs this very script
check "Makefile: 'make demo' runs scripts/demo.sh" grep -q 'scripts/demo.sh' "$REPO/Makefile"

finish
