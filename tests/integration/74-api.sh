#!/usr/bin/env bash
# 74-api.sh — issue 13 must-show 5: the per-socket API of seed 000
# (secsock_set_security, secsock_set_peer_target_name,
# secsock_delete_peer_target_name; docs/api.md), walked by a C driver
# (tests/tools/api_calls.c) under the preload:
#   every call-order and error case on sockets in every state — new, bound,
#   listening, connecting (SYN sent; and a first contact decided in the
#   background), connected, secured, UDP, AF_UNIX, a pipe, a bad fd — and
#   the settings argument (EMSGSIZE, EINVAL, once per socket);
#   SO_REUSEPORT refused (EACCES) on a socket or listener with settings;
#   secsock_set_security(fd, NULL, 0) on a port the policy bypasses secures
#   it (secsock_query says secured, at both ends: the listener has settings
#   too), and a client without settings is refused by that listener;
#   without ALLOW_INSECURE a request rule facing a clear-only server fails
#   (ECONNREFUSED) instead of going clear; with it the policy falls back;
#   a block rule still wins (EACCES); secsock_query on a host-key connection
#   gives the method, the peer's fingerprint (the one keygen printed) and
#   the mutual flag.
#   (quiet) the same calls under a policy that bypasses everything, where
#   secsock tracks no socket until the program uses the API.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools api_calls
require_no_system_policy

PR=$(free_port); PB=$(free_port); PC=$(free_port); PK=$(free_port); PH=$(free_port)
# one host key for both ends (they are one process), never the user's own
export XDG_CONFIG_HOME=$T/cfg
"$SECSOCK" keygen >"$T/keygen.out" 2>&1 || bail "secsock keygen" "$T/keygen.out"
FP=$(grep -o 'SHA256:[A-Za-z0-9+/]*' "$T/keygen.out" | head -1)
[ -n "$FP" ] || bail "keygen printed no fingerprint" "$T/keygen.out"
POLICY=$T/api.conf
write_policy "$POLICY" <<EOF2
[defaults]
action = bypass

[rule secured]
port = $PR
action = request

[rule bypassed]
port = $PB
action = bypass

[rule clear-server]
direction = inbound
port = $PC
action = bypass

[rule clear-client]
direction = outbound
port = $PC
action = request

[rule blocked]
port = $PK
action = block

[rule host-key]
port = $PH
action = require
auth = host-key
EOF2

run_driver() {
	local name=$1
	shift
	preload "$T/$name.log" "$TOOLS/api_calls" "$@" >"$T/$name.out" 2>"$T/$name.err"
	echo "rc=$?" >>"$T/$name.out"
	# the driver's own checks, one line each
	grep -E '^(ok|not ok) - ' "$T/$name.out" | sed -E "s/^(ok|not ok) - /\1 - $name: /"
	CHECKS=$((CHECKS + $(grep -Ec '^(ok|not ok) - ' "$T/$name.out")))
	FAILS=$((FAILS + $(grep -Ec '^not ok - ' "$T/$name.out")))
	assert_grep '^rc=0$' "$T/$name.out" "$name: the driver ran to the end and every check passed" "$T/$name.err" "$T/$name.log"
}

run_driver policy policy "$PR" "$PB" "$PC" "$PK" "$PH" "$FP"
assert_grep 'refused outbound .*:'"$PC"' rule=clear-client reason="require' "$T/policy.log" \
	"policy: the refusal is logged as require (the program asked for no clear)"
assert_grep 'blocked outbound .*:'"$PK"' rule=blocked' "$T/policy.log" "policy: the block is logged"
assert_grep 'refused inbound .*:'"$PB"' <- .* rule=bypassed' "$T/policy.log" \
	"policy: the listener with settings refused the clear client"

POLICY=$T/quiet.conf
write_policy "$POLICY" <<EOF2
[rule everything]
direction = any
port = any
action = bypass
EOF2
PB=$(free_port)
SECSOCK_LOG=warn run_driver quiet quiet "$PB"
finish
