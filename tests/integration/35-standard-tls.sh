#!/usr/bin/env bash
# 35-standard-tls.sh — issue 4, must-show 6: interop with standard TLS 1.3
# peers through rules with `peer = standard-tls`.
#   inbound: a preloaded plain-HTTP server (python3 -m http.server) behind a
#     rule with cert-file/key-file serves an unmodified `curl --cacert ca.pem
#     https://localhost:PORT/` (curl not preloaded); plain http to it fails;
#   outbound: a preloaded `curl http://127.0.0.1:PORT/` reaches an
#     `openssl s_server -www -tls1_3` through a rule with ca-file and
#     peer-name and fetches its page; with the wrong peer-name, or a CA that
#     did not sign the server, the connect is refused.
# A throwaway CA and server certificate are made with openssl in $T.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools errno_peer
require_cmd curl openssl ss
require_no_system_policy
unset POLICY
EP=$TOOLS/errno_peer

# ---------------------------------------------------------------- throwaway PKI
mkcert() (
	set -e
	cd "$T"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-keyout ca.key -out ca.pem -subj "/CN=secsock test CA $$" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout server.key -out server.csr -subj /CN=localhost
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' >server.ext
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
		-out server.pem -extfile server.ext
	# an unrelated CA, for the negative case
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-keyout other-ca.key -out other-ca.pem -subj "/CN=some other CA" \
		-addext basicConstraints=critical,CA:TRUE
	chmod 600 ./*.key
)
mkcert >"$T/pki.log" 2>&1 || bail "making the test CA and certificate failed" "$T/pki.log"
pass "throwaway CA and localhost certificate made"

# policy_ok FILE: `secsock policy check` accepts it (so a failure below is the
# library's, not a typo in the test's policy).
policy_ok() {
	if [ -x "$SECSOCK" ] && ! "$SECSOCK" policy check "$1" >"$1.check" 2>&1; then
		fail "policy $(basename "$1") is valid for 'secsock policy check'" "$1.check"
		return 1
	fi
	return 0
}

mkdir -p "$T/www"
echo "served in plain HTTP behind secsock standard-tls $$" >"$T/www/page.txt"

# ---------------------------------------------------------------- inbound: TLS clients → plain server
port=$(free_port)
POLICY=$T/tls-front.conf
write_policy "$POLICY" <<EOF
[rule tls-front]
direction = inbound
port      = $port
action    = require
peer      = standard-tls
auth      = certificate
cert-file = $T/server.pem
key-file  = $T/server.key
EOF
policy_ok "$POLICY"
start_bg front preload "$T/front.log" "$PY" -m http.server --bind 127.0.0.1 --directory "$T/www" "$port"
fpid=$BG_PID
unset POLICY
wait_listen "$port" 10 "$fpid" || bail "preloaded http.server did not listen" "$T/front.err" "$T/front.log"

code=$(plain curl -sS -v --cacert "$T/ca.pem" --resolve "localhost:$port:127.0.0.1" \
	-o "$T/front.got" -w '%{http_code}' "https://localhost:$port/page.txt" 2>"$T/front-curl.err")
assert_eq "$code" 200 "inbound standard-tls: curl --cacert ca.pem https://localhost:$port/page.txt answers 200" \
	"$T/front-curl.err" "$T/front.log" "$T/front.err"
assert_same_file "$T/www/page.txt" "$T/front.got" "inbound standard-tls: page intact"
assert_grep 'SSL connection using TLSv1\.3' "$T/front-curl.err" "inbound standard-tls: curl negotiated TLS 1.3"
wait_grep 'secured inbound' "$T/front.log" 5 || true
assert_grep 'info: secured inbound 127\.0\.0\.1:'"$port"' <- .*rule=tls-front cipher=' "$T/front.log" \
	"inbound standard-tls: server logs 'secured inbound ... rule=tls-front'"
plain curl -sS -o /dev/null "http://127.0.0.1:$port/page.txt" 2>/dev/null
rc=$?
check "inbound standard-tls: plain http:// to the same port fails (curl exit $rc)" test "$rc" -ne 0
plain curl -sS -o /dev/null --cacert "$T/other-ca.pem" --resolve "localhost:$port:127.0.0.1" \
	"https://localhost:$port/page.txt" 2>"$T/front-badca.err"
rc=$?
check "inbound standard-tls: a client trusting another CA rejects the certificate (curl exit $rc)" test "$rc" -eq 60
stop_pid "$fpid"

# ---------------------------------------------------------------- outbound: plain client → TLS server
port=$(free_port)
start_bg s_server plain openssl s_server -accept "127.0.0.1:$port" -cert "$T/server.pem" -key "$T/server.key" \
	-tls1_3 -www
spid=$BG_PID
wait_listen "$port" 10 "$spid" || bail "openssl s_server did not listen" "$T/s_server.err" "$T/s_server.out"

# outbound_policy NAME CA PEERNAME
outbound_policy() {
	write_policy "$T/$1.conf" <<EOF
[rule $1]
direction = outbound
port      = $port
action    = require
peer      = standard-tls
auth      = certificate
ca-file   = $2
peer-name = $3
EOF
	policy_ok "$T/$1.conf"
}

outbound_policy tls-back "$T/ca.pem" localhost
POLICY=$T/tls-back.conf
# blocking reader first: the page, then EOF at s_server's close_notify
preload "$T/back-ep.log" "$EP" -T 20 -o "$T/back-ep.got" connect 127.0.0.1 "$port" 'send:GET / HTTP/1.0\r\n\r\n' recvall \
	>"$T/back-ep.c" 2>&1
assert_grep '^recv: [1-9][0-9]* EOF$' "$T/back-ep.c" "outbound standard-tls: blocking client (errno_peer) reads the page, then EOF" \
	"$T/back-ep.c" "$T/back-ep.log"
check "outbound standard-tls: errno_peer got the HTTP status line" grep -q '^HTTP/1.0 200' "$T/back-ep.got"
# curl: non-blocking socket + poll; must see EOF after close_notify too
code=$(TMO=20 preload "$T/back.log" curl -sS -o "$T/back.got" -w '%{http_code}' "http://127.0.0.1:$port/" 2>"$T/back-curl.err")
rc=$?
unset POLICY
[ "$rc" = 124 ] && echo "# curl was killed after 20 s (hung waiting for EOF?)"
assert_eq "$code" 200 "outbound standard-tls: preloaded curl http://127.0.0.1:$port/ answers 200" \
	"$T/back-curl.err" "$T/back.log" "$T/s_server.out"
check "outbound standard-tls: the page is openssl s_server's status page" grep -q 's_server' "$T/back.got"
check "outbound standard-tls: s_server reports the TLS 1.3 session" grep -q 'TLSv1.3' "$T/back.got"
assert_grep 'info: secured outbound .*-> 127\.0\.0\.1:'"$port"' rule=tls-back cipher=' "$T/back.log" \
	"outbound standard-tls: client logs 'secured outbound ... rule=tls-back'"

outbound_policy tls-wrongname "$T/ca.pem" not-this-host.example
POLICY=$T/tls-wrongname.conf
preload "$T/wrongname.log" "$EP" -T 20 connect 127.0.0.1 "$port" 'send:GET / HTTP/1.0\r\n\r\n' recvall >"$T/wrongname.c" 2>&1
unset POLICY
assert_eq "$(field "$T/wrongname.c" connect)" ECONNREFUSED "outbound standard-tls: wrong peer-name → connect ECONNREFUSED" \
	"$T/wrongname.c" "$T/wrongname.log"
assert_grep 'refused outbound .*rule=tls-wrongname reason="require: ' "$T/wrongname.log" "outbound standard-tls: wrong peer-name logged with reason"

outbound_policy tls-otherca "$T/other-ca.pem" localhost
POLICY=$T/tls-otherca.conf
preload "$T/otherca.log" "$EP" -T 20 connect 127.0.0.1 "$port" 'send:GET / HTTP/1.0\r\n\r\n' recvall >"$T/otherca.c" 2>&1
unset POLICY
assert_eq "$(field "$T/otherca.c" connect)" ECONNREFUSED "outbound standard-tls: untrusted CA → connect ECONNREFUSED" \
	"$T/otherca.c" "$T/otherca.log"
stop_pid "$spid"

finish
