#!/usr/bin/env bash
# 78-keylog.sh — issue 16 must-show 4: SECSOCK_KEYLOG_FILE, opt-in NSS key
# log lines (the SSLKEYLOGFILE format) so that an admin can decrypt a
# capture of secured traffic with Wireshark/tshark.
#   (a) curl -> python http.server, both preloaded under require, captured on
#       loopback with tshark: with the client's key log, tshark decodes the
#       HTTP request and response inside the secured connection; without
#       it, it sees no HTTP at all (the wire is encrypted);
#   (b) the key log is mode 0600, holds the TLS 1.3 traffic secret lines,
#       and the client logs exactly one warning line saying what it does;
#   (c) never by default: without the variable no file appears;
#   (d) a symbolic link at the path is not followed: nothing is written
#       through it (the file it points to is untouched).
. "$(dirname "$0")/lib.sh"
require_lib
require_no_system_policy
require_cmd curl tshark
[ "$(id -u)" = 0 ] || { echo "ok - skipped (capturing on lo needs root)"; finish; }
unset POLICY

POLICY=$T/require.conf
write_policy "$POLICY" <<'EOF'
[defaults]
action = require
EOF
mkdir -p "$T/www"
echo "keylog page $$" >"$T/www/page.txt"
port=$(free_port)
start_bg web preload "$T/web.log" "$PY" -m http.server --bind 127.0.0.1 --directory "$T/www" "$port"
WEB=$BG_PID
wait_listen "$port" 10 "$WEB" || bail "http.server did not listen" "$T/web.err"

# ---------------------------------------------------------------- (a) capture and decode
start_bg cap plain tshark -q -i lo -f "tcp port $port" -w "$T/cap.pcap"
CAP=$BG_PID
for ((i = 0; i < 100; i++)); do [ -s "$T/cap.pcap" ] && break; sleep 0.05; done
sleep 0.5   # dumpcap starts capturing a little after it creates the file
SECSOCK_KEYLOG_FILE=$T/keys TMO=30 preload "$T/curl.log" curl -sS -o "$T/got.txt" "http://127.0.0.1:$port/page.txt" 2>"$T/curl.err"
assert_eq "$?" 0 "(a) curl fetched the page through the secured connection" "$T/curl.err" "$T/curl.log"
assert_same_file "$T/www/page.txt" "$T/got.txt" "(a) the page is intact"
assert_grep 'secured outbound' "$T/curl.log" "(a) the connection was secured"
sleep 1
stop_pid "$CAP"
tshark -r "$T/cap.pcap" -o "tls.keylog_file:$T/keys" -d "tcp.port==$port,tls" -d "tls.port==$port,http" \
	-Y http -T fields -e http.request.uri -e http.response.code >"$T/decoded.txt" 2>"$T/decode.err"
assert_grep '^/page\.txt' "$T/decoded.txt" "(a) with the key log, tshark decodes the request (GET /page.txt)" "$T/decoded.txt" "$T/decode.err"
assert_grep '200' "$T/decoded.txt" "(a) ... and the response (200)" "$T/decoded.txt"
tshark -r "$T/cap.pcap" -d "tcp.port==$port,tls" -d "tls.port==$port,http" -Y http -T fields -e http.request.uri \
	>"$T/blind.txt" 2>/dev/null
check "(a) without the key log tshark sees no HTTP (the wire is encrypted)" sh -c "! grep -q page '$T/blind.txt'"
check "(a) the page's text is not on the wire in clear" sh -c "! grep -aq 'keylog page $$' '$T/cap.pcap'"

# ---------------------------------------------------------------- (b) the file and the warning
check "(b) the key log is mode 0600" [ "$(stat -c %a "$T/keys" 2>/dev/null)" = 600 ]
assert_grep '^CLIENT_TRAFFIC_SECRET_0 [0-9a-f]{64} [0-9a-f]{64,96}$' "$T/keys" "(b) it holds NSS key log lines (CLIENT_TRAFFIC_SECRET_0)" "$T/keys"
assert_grep '^SERVER_HANDSHAKE_TRAFFIC_SECRET ' "$T/keys" "(b) ... and the handshake secrets"
assert_count 'SECSOCK_KEYLOG_FILE=.*written there' "$T/curl.log" 1 "(b) one warning line says the secrets are written out"
assert_no_grep 'SECSOCK_KEYLOG_FILE' "$T/web.log" "(b) the server, without the variable, says nothing of it"

# ---------------------------------------------------------------- (c) never by default
mkdir -p "$T/c"
(cd "$T/c" && TMO=30 preload "$T/c.log" curl -sS -o /dev/null "http://127.0.0.1:$port/page.txt" 2>"$T/c.err")
check "(c) without SECSOCK_KEYLOG_FILE no key log appears" sh -c "[ -z \"\$(ls -A '$T/c')\" ]"
assert_no_grep 'KEYLOG' "$T/c.log" "(c) and nothing is said about it"

# ---------------------------------------------------------------- (d) no symlink
echo "precious" >"$T/target"
ln -s "$T/target" "$T/link"
SECSOCK_KEYLOG_FILE=$T/link TMO=30 preload "$T/d.log" curl -sS -o /dev/null "http://127.0.0.1:$port/page.txt" 2>"$T/d.err"
assert_eq "$(cat "$T/target")" precious "(d) a symlink at the path is not followed: its target is untouched"
stop_pid "$WEB"
finish
