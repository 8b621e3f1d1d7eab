#!/bin/bash
# 10-core-interop.sh — core/ against the openssl command-line tool (issue 2,
# must-show 3): core's client against `openssl s_server -tls1_3` and core's
# server against `openssl s_client -tls1_3`, standard-TLS mode, for each
# cipher suite, data and KeyUpdates both ways through the record layer
# (tests/tools/ss_interop.c does the talking; it starts openssl on a free
# 127.0.0.1 port and stops it by pid).  Also: a wrong server name and an
# unknown CA must be refused with the right status.
set -u
set -o pipefail

BUILD=${BUILD:-$PWD/build}
DRIVER=$BUILD/tools/ss_interop
[ -x "$DRIVER" ] || { echo "not ok - $DRIVER missing (make all)"; exit 1; }
command -v openssl >/dev/null || { echo "not ok - openssl CLI missing"; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/secsock-interop.XXXXXX")
FAILS=0
trap 'if [ $FAILS -eq 0 ]; then rm -rf "$T"; else echo "# files kept in $T"; fi' EXIT

# A throw-away CA and a server certificate for "localhost" signed by it, and
# a second CA nobody trusts (for the unknown-CA case).
mkca() {  # dir name
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-keyout "$T/$1.key" -out "$T/$1.pem" -subj "/CN=$2" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
		>/dev/null 2>&1
}
mkca ca "secsock interop test CA" && mkca otherca "someone else's CA" &&
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/srv.key" \
	-out "$T/srv.csr" -subj "/CN=localhost" >/dev/null 2>&1 &&
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
	> "$T/ext.cnf" &&
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
	-days 1 -extfile "$T/ext.cnf" -out "$T/srv.pem" >/dev/null 2>&1 ||
	{ echo "not ok - making test certificates"; FAILS=1; exit 1; }

check() {  # description, command...
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		echo "$out" | sed -n 's/^ok - /ok - /p'
	else
		echo "not ok - $desc"
		echo "$out" | sed 's/^/# /'
		FAILS=$((FAILS + 1))
	fi
}

for suite in aes-128-gcm aes-256-gcm chacha20-poly1305; do
	check "core client vs s_server $suite" \
		"$DRIVER" client "$suite" "$T/ca.pem" "$T/srv.pem" "$T/srv.key"
	check "core server vs s_client $suite" \
		"$DRIVER" server "$suite" "$T/ca.pem" "$T/srv.pem" "$T/srv.key"
done
check "wrong server name → SS_WRONG_PRINCIPAL" \
	"$DRIVER" client aes-128-gcm "$T/ca.pem" "$T/srv.pem" "$T/srv.key" wrong.example SS_WRONG_PRINCIPAL
check "unknown CA → SS_NO_AUTHENTICATING_AUTHORITY" \
	"$DRIVER" client aes-128-gcm "$T/otherca.pem" "$T/srv.pem" "$T/srv.key" localhost \
	SS_NO_AUTHENTICATING_AUTHORITY

if [ $FAILS -ne 0 ]; then
	echo "10-core-interop: $FAILS failed"
	exit 1
fi
echo "10-core-interop: all passed"
