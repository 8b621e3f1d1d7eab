#!/usr/bin/env bash
# s44-mitm.sh — issue 13 must-show 2: an active man in the middle.
#
# The attacker is socat under the preload, listening where the client
# expects the server (port P) and relaying to the real server (port Q): it
# terminates secsock on both sides with keys of its own and sees the
# plaintext in between (socat -v writes every relayed byte to its stderr).
#   anonymous    NOT detected: the client is secured (with the attacker) and
#                the attacker reads its bytes.  anonymous stops a passive
#                listener only; this case is here so that nobody believes
#                otherwise (docs/policy.md "Authentication").
#   host-key     detected once the client has pinned the real server: the
#                attacker's key is refused with the CHANGED warning, under
#                require and under request (no clear fallback), and no byte of
#                the client reaches the attacker.
#   certificate  detected: the attacker's certificate for the right name
#                from its own CA is refused (untrusted root), and so is one
#                from the right CA for another name; no byte reaches it.
# A direct connection to the real server is the control for each.
. "$(dirname "$0")/../integration/lib.sh"
require_lib
require_no_system_policy
require_cmd socat
require_cmd openssl
unset POLICY
ECHO=$REPO/tests/tools/echo_peer.py   # server PORT [GOT] | client PORT MARKER [N]

make_cert ca "secsock test CA"
make_cert evilca "attacker CA"
make_cert srv srv.test ca
make_cert evilsrv srv.test evilca
make_cert othersrv other.test ca


P=$(free_port)
Q=$(free_port)
while [ "$Q" = "$P" ]; do Q=$(free_port); done
SRV_CFG=$T/srv-cfg MITM_CFG=$T/mitm-cfg CLI_CFG=$T/cli-cfg
for d in "$SRV_CFG" "$MITM_CFG" "$CLI_CFG"; do
	XDG_CONFIG_HOME=$d "$SECSOCK" keygen >"$T/keygen.out" 2>&1 || bail "keygen" "$T/keygen.out"
done

# server PORT AUTH [EXTRA]: the real server, require, on PORT
server() {
	write_policy "$T/srv.conf" <<EOF
[rule in]
direction = inbound
port      = $1
action    = require
auth      = $2
${3:-}
EOF
	XDG_CONFIG_HOME=$SRV_CFG POLICY=$T/srv.conf start_bg srv preload "$T/srv.log" "$PY" "$ECHO" server "$1"
	SRV_PID=$BG_PID
	wait_listen "$1" 10 "$SRV_PID" || bail "server did not listen" "$T/srv.err" "$T/srv.log"
}
# mitm AUTH [EXTRA]: the attacker on P, relaying to Q, its own keys
mitm() {
	write_policy "$T/mitm.conf" <<EOF
[rule victim]
direction = inbound
port      = $P
action    = require
auth      = $1
${2:-}

[rule upstream]
direction = outbound
port      = $Q
action    = require
auth      = anonymous
EOF
	: >"$T/mitm.err"
	XDG_CONFIG_HOME=$MITM_CFG POLICY=$T/mitm.conf start_bg mitm preload "$T/mitm.log" \
		socat -v "TCP-LISTEN:$P,bind=127.0.0.1,reuseaddr,fork" "TCP:127.0.0.1:$Q"
	MITM_PID=$BG_PID
	wait_listen "$P" 10 "$MITM_PID" || bail "mitm did not listen" "$T/mitm.err" "$T/mitm.log"
}
# client NAME PORT ACTION AUTH [EXTRA]
client() {
	write_policy "$T/$1.conf" <<EOF
[rule out]
direction = outbound
port      = $2
action    = $3
auth      = $4
${5:-}
EOF
	XDG_CONFIG_HOME=$CLI_CFG POLICY=$T/$1.conf preload "$T/$1.log" "$PY" "$ECHO" client "$2" "M-$1-$$" >"$T/$1.out" 2>&1
}
# detected NAME WHAT: the client refused the attacker and gave it nothing
detected() {
	assert_no_grep '^reply: echo:' "$T/$1.out" "$2: no exchange through the attacker" "$T/$1.out" "$T/$1.log"
	assert_no_grep 'secured outbound|clear outbound' "$T/$1.log" "$2: the client neither secured nor clear"
	check "$2: no byte of the client reached the attacker in plaintext" sh -c "! grep -q 'M-$1-$$' '$T/mitm.err'"
}

# ---------------------------------------------------------------- anonymous
server "$Q" anonymous
mitm anonymous
client anon "$P" require anonymous
assert_grep "^reply: echo:M-anon-$$" "$T/anon.out" "anonymous: the client is secured and talks through the attacker" \
	"$T/anon.out" "$T/anon.log"
assert_grep 'secured outbound .*auth=anonymous' "$T/anon.log" "anonymous: the client's log says secured (with the attacker)"
assert_grep "M-anon-$$" "$T/mitm.err" "anonymous: the attacker read the client's bytes — NOT detected, as documented" \
	"$T/mitm.err"
stop_pid "$MITM_PID"
stop_pid "$SRV_PID"

# ---------------------------------------------------------------- host-key
# The client first meets the real server on P and pins it; the attacker
# then takes P and the real server moves to Q.
server "$P" host-key
client hk0 "$P" require host-key
assert_grep "^reply: echo:M-hk0-$$" "$T/hk0.out" "host-key control: the real server is pinned and secured" \
	"$T/hk0.out" "$T/hk0.log"
FP_SRV=$(XDG_CONFIG_HOME=$SRV_CFG "$SECSOCK" peers show-fingerprint)
FP_MITM=$(XDG_CONFIG_HOME=$MITM_CFG "$SECSOCK" peers show-fingerprint)
stop_pid "$SRV_PID"
server "$Q" anonymous
mitm host-key
for act in require request; do
	client "hk-$act" "$P" "$act" "host-key, anonymous"
	detected "hk-$act" "host-key, $act"
	check "host-key, $act: the warn line names the pinned and the attacker's fingerprints" \
		grep -qF "CHANGED: expected $FP_SRV, seen $FP_MITM" "$T/hk-$act.log"
done
stop_pid "$MITM_PID"

# An attacker that offers anonymous instead of a key is refused too.
mitm anonymous
client hk-anon "$P" request "host-key, anonymous"
detected hk-anon "host-key, attacker offering anonymous"
assert_grep 'is pinned .* but authenticated anonymously: refused' "$T/hk-anon.log" \
	"host-key, attacker offering anonymous: the warn line says so"
stop_pid "$MITM_PID"
stop_pid "$SRV_PID"

# ---------------------------------------------------------------- certificate
CERT_SRV="cert-file = $T/srv.crt
key-file = $T/srv.key
ca-file = $T/ca.crt"
CERT_CLI="ca-file = $T/ca.crt
peer-name = srv.test"
server "$Q" "certificate, anonymous" "$CERT_SRV"
client c0 "$Q" require certificate "$CERT_CLI"
assert_grep "^reply: echo:M-c0-$$" "$T/c0.out" "certificate control: the real server is secured" "$T/c0.out" "$T/c0.log"
n=0
for evil in evilsrv othersrv; do
	n=$((n + 1))
	mitm "certificate, anonymous" "cert-file = $T/$evil.crt
key-file = $T/$evil.key
ca-file = $T/evilca.crt"
	for act in require request; do
		client "c$n-$act" "$P" "$act" certificate "$CERT_CLI"
		detected "c$n-$act" "certificate ($evil), $act"
		assert_grep 'refused outbound .*SS_(UNTRUSTED_ROOT|NO_AUTHENTICATING_AUTHORITY|WRONG_PRINCIPAL|TARGET_UNKNOWN)' "$T/c$n-$act.log" \
			"certificate ($evil), $act: refused for the certificate" "$T/c$n-$act.log"
	done
	stop_pid "$MITM_PID"
done
stop_pid "$SRV_PID"
finish
