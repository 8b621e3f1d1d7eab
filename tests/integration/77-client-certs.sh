#!/usr/bin/env bash
# 77-client-certs.sh — issue 13 must-show 3: certificates in both directions,
# and interop with openssl in standard-tls mode.
#
#   A. secsock server (standard-tls, ca-file, peer-name = allowed client
#      names) <- plain `openssl s_client -cert`: a client certificate from
#      the CA with an allowed name gets in; none, another CA's, or an
#      unlisted name are refused (SS_NO_CREDENTIALS,
#      SS_NO_AUTHENTICATING_AUTHORITY, SS_WRONG_PRINCIPAL in the server's
#      log; the server program's read fails ECONNRESET; its marker never
#      reaches the program).
#   B. secsock client (standard-tls, cert-file, ca-file, peer-name) ->
#      plain `openssl s_server -Verify 1`: with its certificate it gets in;
#      without one, or with another CA's, s_server refuses it (TLS 1.3: the
#      client has finished its side when the server decides, so its connect
#      succeeds and its read fails ECONNRESET; s_server never prints the
#      marker); a server certificate from a CA the client does not trust or
#      for another name → connect ECONNREFUSED with the status in the log.
#   C. secsock <-> secsock (peer = secsock) through a recording relay (the
#      wire: TLS records only, the marker never in clear), the server with peer-name =
#      "cli.test, *.build.test": a listed name and a glob match get in, the
#      rest are refused as in A.
# Certificates are made with openssl in $T (lib.sh make_cert: SAN DNS:CN).
. "$(dirname "$0")/lib.sh"
require_lib
require_tools errno_peer
require_cmd openssl
require_no_system_policy
unset POLICY
EP=$TOOLS/errno_peer

make_cert ca "secsock test CA"
make_cert evilca "another CA"
make_cert srv srv.test ca
make_cert cli cli.test ca
make_cert globcli a.build.test ca
make_cert deepcli x.a.build.test ca
make_cert othercli other.test ca
make_cert evilcli cli.test evilca
make_cert evilsrv srv.test evilca
pass "throwaway CAs and certificates made"

policy_ok() {
	"$SECSOCK" policy check "$1" >"$1.check" 2>&1 ||
		fail "policy $(basename "$1") passes secsock policy check" "$1.check"
}

# server NAME PEER NAMES: a preloaded errno_peer server for one connection
# under an inbound rule (auth certificate, ca-file, peer-name NAMES); sets
# SPORT and SPID.  It reads everything (recvall) into $T/NAME.got.
server() {
	local n=$1 peer=$2 names=$3
	write_policy "$T/s-$n.conf" <<EOF
[rule in]
direction = inbound
action    = require
peer      = $peer
auth      = certificate
cert-file = $T/srv.crt
key-file  = $T/srv.key
ca-file   = $T/ca.crt
peer-name = $names
EOF
	policy_ok "$T/s-$n.conf"
	rm -f "$T/s-$n.port"
	POLICY=$T/s-$n.conf start_bg "srv-$n" preload "$T/s-$n.log" \
		"$EP" -T 20 -p "$T/s-$n.port" -o "$T/s-$n.got" listen 127.0.0.1 0 recvall
	SPID=$BG_PID
	wait_file "$T/s-$n.port" 10 || bail "server $n did not start" "$T/srv-$n.out" "$T/srv-$n.err" "$T/s-$n.log"
	SPORT=$(cat "$T/s-$n.port")
}

# server_verdict NAME WANT(in|out) STATUS MARKER WHAT: what the server program
# saw, and its log line.
server_verdict() {
	local n=$1 want=$2 status=$3 marker=$4 what=$5
	if [ "$want" = in ]; then
		wait_grep "$marker" "$T/s-$n.got" 5
		check "$what: the server program read the client's bytes" grep -q "$marker" "$T/s-$n.got"
		wait_grep 'secured inbound' "$T/s-$n.log" 5
		assert_grep "secured inbound .*rule=in .*auth=certificate peer=$status" "$T/s-$n.log" \
			"$what: server logs 'secured inbound ... auth=certificate peer=$status'"
	else
		wait_grep '^recv: ' "$T/srv-$n.out" 10
		assert_eq "$(sed -n 's/^recv: [0-9]* //p' "$T/srv-$n.out" | head -n1)" ECONNRESET \
			"$what: the server program's read fails ECONNRESET" "$T/srv-$n.out" "$T/s-$n.log"
		assert_grep "refused inbound .*rule=in reason=\"handshake: $status\"" "$T/s-$n.log" \
			"$what: server logs refused ... $status"
		check "$what: no byte of the client reached the server program" \
			test ! -s "$T/s-$n.got"
		assert_no_grep 'secured inbound' "$T/s-$n.log" "$what: never secured"
	fi
	stop_pid "$SPID"
}

# ---------------------------------------------------------------- A. openssl s_client -> secsock server
# s_client_case NAME WANT STATUS WHAT [s_client args]
s_client_case() {
	local n=$1 want=$2 status=$3 what=$4 marker="A-$1-$$"
	shift 4
	server "$n" standard-tls "cli.test, *.build.test"
	(echo "$marker"; sleep 1) | timeout 10 openssl s_client -connect "127.0.0.1:$SPORT" -tls1_3 -quiet \
		-CAfile "$T/ca.crt" -verify_hostname srv.test -verify_return_error "$@" >"$T/sc-$n.out" 2>&1
	server_verdict "$n" "$want" "$status" "$marker" "$what"
}
s_client_case a-cert in cli.test "s_client -cert cli.test (from the CA, listed)" \
	-cert "$T/cli.crt" -key "$T/cli.key"
s_client_case a-glob in a.build.test "s_client -cert a.build.test (matches *.build.test)" \
	-cert "$T/globcli.crt" -key "$T/globcli.key"
s_client_case a-nocert out SS_NO_CREDENTIALS "s_client without a certificate"
assert_grep 'alert certificate required|certificate required' "$T/sc-a-nocert.out" \
	"s_client without a certificate: told 'certificate required' (RFC 8446 certificate_required alert)"
s_client_case a-evil out SS_NO_AUTHENTICATING_AUTHORITY "s_client -cert from another CA" \
	-cert "$T/evilcli.crt" -key "$T/evilcli.key"
s_client_case a-other out SS_WRONG_PRINCIPAL "s_client -cert other.test (from the CA, not listed)" \
	-cert "$T/othercli.crt" -key "$T/othercli.key"
s_client_case a-deep out SS_WRONG_PRINCIPAL "s_client -cert x.a.build.test ('*' is one label)" \
	-cert "$T/deepcli.crt" -key "$T/deepcli.key"

# ---------------------------------------------------------------- B. secsock client -> openssl s_server -Verify
# client_policy NAME CA PEERNAME [CERT]
client_policy() {
	write_policy "$T/c-$1.conf" <<EOF
[rule out]
direction = outbound
action    = require
peer      = standard-tls
auth      = certificate
ca-file   = $T/$2.crt
peer-name = $3
$([ -n "${4:-}" ] && printf 'cert-file = %s\nkey-file  = %s\n' "$T/$4.crt" "$T/$4.key")
EOF
	policy_ok "$T/c-$1.conf"
}

# s_server_case NAME SRVCERT CA PEERNAME CLICERT WANT WHAT
#   WANT: in | reset:ALERT (connect OK, read ECONNRESET: s_server refused us
#         with that alert, RFC 8446 §6.2: 116 certificate_required, 48 unknown_ca) |
#         refused:STATUS (connect ECONNREFUSED: we refused the server)
s_server_case() {
	local n=$1 scert=$2 ca=$3 pname=$4 ccert=$5 want=$6 what=$7 marker="B-$1-$$" port
	port=$(free_port)
	# s_server ends at EOF on its stdin: keep it open (the sleep goes with
	# the process group stop_pid stops)
	start_bg "ss-$n" plain sh -c 'sleep 60 | exec "$@"' sh openssl s_server -accept "127.0.0.1:$port" -tls1_3 \
		-Verify 1 -cert "$T/$scert.crt" -key "$T/$scert.key" -CAfile "$T/ca.crt" -verify_return_error
	local spid=$BG_PID
	wait_listen "$port" 10 "$spid" || bail "openssl s_server did not listen" "$T/ss-$n.err"
	client_policy "$n" "$ca" "$pname" "$ccert"
	POLICY=$T/c-$n.conf preload "$T/c-$n.log" "$EP" -T 10 connect 127.0.0.1 "$port" \
		"send:$marker\n" recv:1 >"$T/c-$n.out" 2>&1
	case $want in
	in)
		assert_eq "$(field "$T/c-$n.out" connect)" OK "$what: connect OK" "$T/c-$n.out" "$T/c-$n.log"
		wait_grep "$marker" "$T/ss-$n.out" 5
		check "$what: s_server printed the client's bytes" grep -q "$marker" "$T/ss-$n.out"
		assert_grep "secured outbound .*rule=out .*auth=certificate peer=srv\.test" "$T/c-$n.log" \
			"$what: client logs 'secured outbound ... auth=certificate peer=srv.test'"
		;;
	reset:*)
		assert_grep "peer sent fatal alert ${want#reset:}\$" "$T/c-$n.log" \
			"$what: the client logs s_server's alert ${want#reset:}"
		assert_no_grep 'clear ' "$T/c-$n.log" "$what: no clear fallback"
		assert_eq "$(field "$T/c-$n.out" recv | sed 's/^[0-9]* //')" ECONNRESET \
			"$what: the client's read fails ECONNRESET (s_server refused it)" "$T/c-$n.out" "$T/c-$n.log" "$T/ss-$n.out"
		sleep 0.2
		check "$what: s_server never printed the client's bytes" eval "! grep -q '$marker' '$T/ss-$n.out'"
		;;
	refused:*)
		assert_eq "$(field "$T/c-$n.out" connect)" ECONNREFUSED "$what: connect ECONNREFUSED" \
			"$T/c-$n.out" "$T/c-$n.log"
		assert_grep "refused outbound .*rule=out reason=\"require: handshake: ${want#refused:}\"" "$T/c-$n.log" \
			"$what: client logs refused ... ${want#refused:}"
		check "$what: s_server never saw the client's bytes" eval "! grep -q '$marker' '$T/ss-$n.out'"
		;;
	esac
	stop_pid "$spid"
}
s_server_case b-cert srv ca srv.test cli in "secsock client with cli.test -> s_server -Verify 1"
s_server_case b-nocert srv ca srv.test "" reset:116 "secsock client without a certificate -> s_server -Verify 1"
s_server_case b-evil srv ca srv.test evilcli reset:48 "secsock client with another CA's certificate -> s_server -Verify 1"
s_server_case b-unknownca evilsrv ca srv.test cli refused:SS_NO_AUTHENTICATING_AUTHORITY \
	"s_server certified by a CA the client does not trust"
s_server_case b-name srv ca other.test cli refused:SS_WRONG_PRINCIPAL "s_server certified for srv.test, client wants other.test"

# ---------------------------------------------------------------- C. secsock <-> secsock
# secsock_case NAME CLICERT WANT STATUS WHAT
secsock_case() {
	local n=$1 ccert=$2 want=$3 status=$4 what=$5 marker="C-$1-$$"
	server "$n" secsock "cli.test, *.build.test"
	write_policy "$T/c-$n.conf" <<EOF
[rule out]
direction = outbound
action    = require
auth      = certificate
ca-file   = $T/ca.crt
peer-name = srv.test
$([ -n "$ccert" ] && printf 'cert-file = %s\nkey-file  = %s\n' "$T/$ccert.crt" "$T/$ccert.key")
EOF
	policy_ok "$T/c-$n.conf"
	# the client reaches the server through a recording relay (not
	# preloaded): the wire must be TLS records, never the marker in clear
	mkdir -p "$T/tap-$n"
	start_bg "tap-$n" plain "$PY" "$TAP" relay "$T/tap-$n" 127.0.0.1 0 127.0.0.1 "$SPORT"
	local tpid=$BG_PID
	wait_file "$T/tap-$n/port" 10 || bail "tap relay did not start" "$T/tap-$n.err"
	POLICY=$T/c-$n.conf preload "$T/c-$n.log" "$EP" -T 10 connect 127.0.0.1 "$(cat "$T/tap-$n/port")" \
		"send:$marker\n" sleep:300 >"$T/c-$n.out" 2>&1
	[ "$want" = in ] && assert_grep 'secured outbound .*auth=certificate peer=srv\.test' "$T/c-$n.log" \
		"$what: client logs secured ... peer=srv.test"
	server_verdict "$n" "$want" "$status" "$marker" "$what"
	stop_pid "$tpid"
	if "$PY" "$TAP" check "$marker" "$T/tap-$n" >"$T/tap-$n.check" 2>&1; then
		pass "$what: the wire carried TLS records only, the marker never in clear"
	else
		fail "$what: the wire carried TLS records only, the marker never in clear" "$T/tap-$n.check"
	fi
}
TAP=$(cd "$(dirname "$0")/../tools" && pwd)/tap.py
secsock_case c-cert cli in cli.test "secsock client cli.test -> secsock server"
secsock_case c-glob globcli in a.build.test "secsock client a.build.test (glob) -> secsock server"
secsock_case c-nocert "" out SS_NO_CREDENTIALS "secsock client without a certificate -> secsock server"
secsock_case c-evil evilcli out SS_NO_AUTHENTICATING_AUTHORITY "secsock client with another CA's certificate"
secsock_case c-other othercli out SS_WRONG_PRINCIPAL "secsock client other.test (not listed)"

finish
