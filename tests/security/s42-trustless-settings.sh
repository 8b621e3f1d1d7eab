#!/usr/bin/env bash
# s42-trustless-settings.sh — issue 10, finding 7: a setting that would make
# a method accept everyone is refused by `secsock policy check` and at run
# time, never used.
#
# Every such setting: auth = certificate with no ca-file — outbound
# standard-tls (the finding), outbound secsock, with a peer-name, with
# "certificate, anonymous" left to decide, in [defaults] (any direction), a
# secsock server requiring client certificates; and standard-tls with a
# method a TLS peer cannot prove.  For each: policy check exits 1 naming the
# problem; a preloaded client under it, aimed at an attacker's openssl
# s_server (self-signed certificate for the very peer-name asked), sends it
# nothing.  Controls: with ca-file the same rules are valid and the right
# server is reached.
. "$(dirname "$0")/../integration/lib.sh"
require_lib
require_tools errno_peer
require_cmd openssl
EP=$TOOLS/errno_peer

mk() {   # mk NAME CN: self-signed CA-style certificate
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "subjectAltName=DNS:$2" \
		-keyout "$T/$1.key" -out "$T/$1.crt" >/dev/null 2>&1 || bail "openssl req failed"
	chmod 600 "$T/$1.key"
}
mk evil srv.test
mk good srv.test
mk cli cli.test

# an attacker's standard TLS server: prints what it receives
port=$(free_port)
start_bg evil plain bash -c "sleep 60 | exec openssl s_server -accept 127.0.0.1:$port -tls1_3 -cert '$T/evil.crt' -key '$T/evil.key'"
wait_listen "$port" 10 "$BG_PID" || bail "openssl s_server did not start" "$T/evil.err"
gport=$(free_port)
start_bg good plain bash -c "sleep 60 | exec openssl s_server -accept 127.0.0.1:$gport -tls1_3 -cert '$T/good.crt' -key '$T/good.key'"
wait_listen "$gport" 10 "$BG_PID" || bail "openssl s_server (control) did not start" "$T/good.err"

OWN="cert-file = $T/cli.crt
key-file  = $T/cli.key"
# case NAME WORDS BODY: BODY is a policy that verifies nothing
n=0
case_() {
	local name=$1 words=$2 body=$3 marker
	n=$((n + 1))
	write_policy "$T/p$n.conf" <<<"$body"
	"$SECSOCK" policy check "$T/p$n.conf" >"$T/p$n.check" 2>&1
	assert_eq "$?" 1 "$name: secsock policy check refuses the file" "$T/p$n.check"
	assert_grep "$words" "$T/p$n.check" "$name: policy check says why ($words)"
	marker="SECRET-$n-$$"
	POLICY=$T/p$n.conf preload "$T/p$n.log" "$EP" -T 10 connect 127.0.0.1 "$port" "send:$marker\n" >"$T/p$n.out" 2>&1
	sleep 0.2
	assert_no_grep "$marker" "$T/evil.out" "$name: nothing reaches the attacker's server"
	assert_grep '^connect: ECONNREFUSED' "$T/p$n.out" "$name: the program's connect is refused" "$T/p$n.out" "$T/p$n.log"
}
NOCA="auth 'certificate' needs ca-file"
case_ "outbound standard-tls, certificate, own cert only (the finding)" "$NOCA" "[defaults]
action = require
peer   = standard-tls
auth   = certificate
$OWN"
case_ "outbound standard-tls with peer-name but no ca-file" "$NOCA" "[rule out]
direction = outbound
action    = require
peer      = standard-tls
auth      = certificate
peer-name = srv.test"
case_ "outbound secsock certificate, no ca-file" "$NOCA" "[rule out]
direction = outbound
action    = require
auth      = certificate
peer-name = srv.test
$OWN"
case_ "certificate, anonymous with no ca-file (certificate would verify nothing)" "$NOCA" "[defaults]
action    = require
auth      = certificate, anonymous
peer-name = srv.test"
case_ "secsock server requiring client certificates with no CA (rule for both directions)" "$NOCA" "[rule both]
action    = require
auth      = certificate
$OWN"
case_ "standard-tls with psk (a TLS peer cannot prove it)" "standard-tls allows only auth certificate and anonymous" "[defaults]
action    = require
peer      = standard-tls
auth      = certificate, psk
psk-file  = $T/none.psk
ca-file   = $T/good.crt
peer-name = srv.test"

# controls: a trust anchor makes the same rules valid; the attacker is
# refused, the right server reached
write_policy "$T/ok.conf" <<EOF
[defaults]
action    = require
peer      = standard-tls
auth      = certificate
ca-file   = $T/good.crt
peer-name = srv.test
$OWN
EOF
check "control: with ca-file the finding's rule is valid" "$SECSOCK" policy check "$T/ok.conf"
POLICY=$T/ok.conf preload "$T/ok.log" "$EP" -T 10 connect 127.0.0.1 "$port" "send:CTRL-EVIL-$$\n" >"$T/ok-evil.out" 2>&1
POLICY=$T/ok.conf preload "$T/ok.log" "$EP" -T 10 connect 127.0.0.1 "$gport" "send:CTRL-GOOD-$$\n" >"$T/ok-good.out" 2>&1
sleep 0.3
assert_no_grep "CTRL-EVIL-$$" "$T/evil.out" "control: with ca-file, the attacker's certificate for the same name is refused"
assert_grep "CTRL-GOOD-$$" "$T/good.out" "control: with ca-file, the server it names is reached" "$T/ok-good.out" "$T/ok.log"
finish
