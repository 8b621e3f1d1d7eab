#!/usr/bin/env bash
# 32-discovery.sh — issue 4, must-show 3: negotiation discovery both ways.
#   preloaded client → plain server (HTTP, client speaks first; a banner
#     service, server speaks first): clear under `request` (the default),
#     ECONNREFUSED under `require` — and require never sends plaintext;
#   plain client → preloaded server: clear under request, reset under require;
#   preloaded ↔ preloaded: secured;
#   a second connection to a known clear peer skips the probe (log reason
#     "discovery cache: known clear peer"; its recording starts with the
#     plaintext, not a ClientHello) — only a peer that answered in clear is
#     known clear: a client that stays silent proves nothing (issue 10), so
#     it is waited for again unless discovery-unproven-ttl says otherwise;
#   every clear fallback under request is logged at warn (the default
#     level), one line per peer per minute, the rest at info.
# Plain servers sit behind a recording ss_relay so the probe is visible.
. "$(dirname "$0")/lib.sh"
require_lib
require_tools ss_relay errno_peer
require_cmd curl ss
require_no_system_policy
unset POLICY
EP=$TOOLS/errno_peer

mkdir -p "$T/www"
echo "hello from the discovery test $$" >"$T/www/page.txt"
BANNER='220 secsock-test banner'

# first_bytes FILE N: the first N bytes of FILE in hex.
first_bytes() { head -c "$2" "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n'; }

# ---------------------------------------------------------------- plain servers
hport=$(free_port)
start_bg plain-http plain "$PY" -m http.server --bind 127.0.0.1 --directory "$T/www" "$hport"
wait_listen "$hport" 10 "$BG_PID" || bail "plain http.server did not listen" "$T/plain-http.err"
bport=$(free_port)
start_bg plain-banner plain "$PY" "$REPO/tests/tools/banner_server.py" 127.0.0.1 "$bport"
wait_listen "$bport" 10 "$BG_PID" || bail "plain banner server did not listen" "$T/plain-banner.err"

# ---- preloaded curl → plain http.server, request (embedded default)
start_relay r-http 127.0.0.1 127.0.0.1 "$hport"
rhttp=$RELAY_PORT
log=$T/c-http.log
code=$(TMO=30 preload "$log" curl -sS -o "$T/c-http.out" -w '%{http_code}' "http://127.0.0.1:$rhttp/page.txt" 2>"$T/c-http.err")
assert_eq "$code" 200 "request → plain HTTP server: preloaded curl gets 200" "$T/c-http.err" "$log"
assert_same_file "$T/www/page.txt" "$T/c-http.out" "request → plain HTTP server: page intact"
assert_grep 'notice: clear outbound .*-> 127\.0\.0\.1:'"$rhttp"' rule=defaults reason="peer does not speak secsock' "$log" \
	"request → plain HTTP server: client logs 'notice: clear outbound ... reason=\"peer does not speak secsock...'"
assert_eq "$(first_bytes "$T/r-http/conn-1.c2s" 1)" 16 "request → plain HTTP server: first connection was a TLS probe (0x16)"
assert_eq "$(head -c 4 "$T/r-http/conn-2.c2s" 2>/dev/null)" "GET " "request → plain HTTP server: second connection carries the plain GET"

# ---- same client process, two connections: the second skips the probe (cache)
start_relay r-cache 127.0.0.1 127.0.0.1 "$hport"
rcache=$RELAY_PORT
log=$T/c-cache.log
codes=$(TMO=30 preload "$log" curl -sS -o /dev/null -o /dev/null -w '%{http_code} ' \
	"http://127.0.0.1:$rcache/page.txt" "http://127.0.0.1:$rcache/page.txt" 2>"$T/c-cache.err")
assert_eq "$codes" "200 200 " "discovery cache: one curl, two fetches, both 200" "$T/c-cache.err" "$log"
assert_count 'reason="peer does not speak secsock' "$log" 1 "discovery cache: exactly one probe failed"
assert_count 'notice: clear outbound .*reason="discovery cache: known clear peer"' "$log" 1 \
	"discovery cache: the second connection logs reason=\"discovery cache: known clear peer\""
wait_file "$T/r-cache/conn-3.c2s" 5 || true
assert_eq "$(first_bytes "$T/r-cache/conn-1.c2s" 1)" 16 "discovery cache: connection 1 was the probe (ClientHello)"
assert_eq "$(head -c 4 "$T/r-cache/conn-2.c2s" 2>/dev/null)" "GET " "discovery cache: connection 2 is the clear retry"
assert_eq "$(head -c 4 "$T/r-cache/conn-3.c2s" 2>/dev/null)" "GET " \
	"discovery cache: connection 3 (second fetch) starts with the plaintext, no ClientHello"
check "discovery cache: no fourth connection" test ! -e "$T/r-cache/conn-4.c2s"

# ---- require → plain HTTP server: ECONNREFUSED, nothing in clear
POLICY=$T/require-out.conf
write_policy "$POLICY" <<EOF
[rule must]
direction = outbound
port = $rhttp
action = require
EOF
nconn_before=$(ls "$T/r-http"/conn-*.c2s 2>/dev/null | wc -l)
log=$T/c-http-require.log
preload "$log" "$EP" -T 30 connect 127.0.0.1 "$rhttp" 'send:GET /page.txt HTTP/1.0\r\n\r\n' recvall \
	>"$T/c-http-require.out" 2>&1
assert_eq "$(field "$T/c-http-require.out" connect)" ECONNREFUSED "require → plain HTTP server: connect fails ECONNREFUSED" \
	"$T/c-http-require.out" "$log"
assert_grep 'warn: refused outbound .*-> 127\.0\.0\.1:'"$rhttp"' rule=must reason="require: ' "$log" \
	"require → plain HTTP server: client logs 'refused outbound ... rule=must reason=\"require: ...'"
sleep 0.2 # let the relay flush what it got (nothing plaintext must come)
plain_sent=0
for f in "$T/r-http"/conn-*.c2s; do
	n=${f##*/conn-}
	n=${n%.c2s}
	[ "$n" -le "$nconn_before" ] && continue
	grep -q 'GET ' "$f" && plain_sent=1
	[ -s "$f" ] && [ "$(first_bytes "$f" 1)" != 16 ] && plain_sent=1
done
assert_eq "$plain_sent" 0 "require → plain HTTP server: the relay saw no plaintext (no fallback)"
unset POLICY

# ---- preloaded client → plain banner service (server speaks first)
start_relay r-banner 127.0.0.1 127.0.0.1 "$bport"
rbanner=$RELAY_PORT
log=$T/c-banner.log
preload "$log" "$EP" -T 30 -o "$T/c-banner.data" connect 127.0.0.1 "$rbanner" \
	recvline 'send:HELO discovery\r\n' recvline 'send:QUIT\r\n' recvline >"$T/c-banner.out" 2>&1
assert_eq "$(field "$T/c-banner.out" connect)" OK "request → plain banner server: connect OK" "$T/c-banner.out" "$log"
assert_eq "$(head -n1 "$T/c-banner.data" | tr -d '\r')" "$BANNER" "request → plain banner server: banner received first" "$T/c-banner.out"
check "request → plain banner server: dialogue answered ('250 HELO discovery')" grep -q '^250 HELO discovery' "$T/c-banner.data"
assert_grep 'notice: clear outbound .*-> 127\.0\.0\.1:'"$rbanner"' .*reason="peer does not speak secsock' "$log" \
	"request → plain banner server: client logs clear with reason"

POLICY=$T/require-banner.conf
write_policy "$POLICY" <<EOF
[rule must-banner]
direction = outbound
port = $rbanner
action = require
EOF
log=$T/c-banner-require.log
preload "$log" "$EP" -T 30 connect 127.0.0.1 "$rbanner" recvline >"$T/c-banner-require.out" 2>&1
assert_eq "$(field "$T/c-banner-require.out" connect)" ECONNREFUSED "require → plain banner server: connect fails ECONNREFUSED" \
	"$T/c-banner-require.out" "$log"
assert_grep 'refused outbound .*rule=must-banner reason="require: ' "$log" "require → plain banner server: refusal logged with reason"
unset POLICY

# ---------------------------------------------------------------- preloaded servers, default policy
p2=$(free_port)
start_bg pre-http preload "$T/s-http.log" "$PY" -m http.server --bind 127.0.0.1 --directory "$T/www" "$p2"
wait_listen "$p2" 10 "$BG_PID" || bail "preloaded http.server did not listen" "$T/pre-http.err"
b2=$(free_port)
start_bg pre-banner preload "$T/s-banner.log" "$PY" "$REPO/tests/tools/banner_server.py" 127.0.0.1 "$b2"
wait_listen "$b2" 10 "$BG_PID" || bail "preloaded banner server did not listen" "$T/pre-banner.err"

# ---- plain curl → preloaded http.server (request): clear
code=$(plain curl -sS -o "$T/p-http.out" -w '%{http_code}' "http://127.0.0.1:$p2/page.txt" 2>"$T/p-http.err")
assert_eq "$code" 200 "plain curl → preloaded HTTP server (request): 200" "$T/p-http.err" "$T/s-http.log"
assert_same_file "$T/www/page.txt" "$T/p-http.out" "plain curl → preloaded HTTP server (request): page intact"
wait_grep 'clear inbound' "$T/s-http.log" 5 || true
assert_grep 'notice: clear inbound 127\.0\.0\.1:'"$p2"' <- 127\.0\.0\.1:[0-9]+ rule=defaults reason="client sent no secsock ClientHello"' \
	"$T/s-http.log" "plain curl → preloaded HTTP server: server logs 'clear inbound ... reason=\"client sent no secsock ClientHello\"'"

# ---- preloaded ↔ preloaded: secured (HTTP and banner)
log=$T/c-pre-http.log
code=$(TMO=30 preload "$log" curl -sS -o "$T/pp-http.out" -w '%{http_code}' "http://127.0.0.1:$p2/page.txt" 2>"$T/pp-http.err")
assert_eq "$code" 200 "preloaded curl ↔ preloaded HTTP server: 200" "$T/pp-http.err" "$log"
assert_same_file "$T/www/page.txt" "$T/pp-http.out" "preloaded curl ↔ preloaded HTTP server: page intact"
assert_grep 'info: secured outbound .*-> 127\.0\.0\.1:'"$p2"' .*cipher=' "$log" "preloaded curl ↔ preloaded HTTP server: client logs secured"
wait_grep 'secured inbound' "$T/s-http.log" 5 || true
assert_grep 'info: secured inbound 127\.0\.0\.1:'"$p2"' <- .*cipher=' "$T/s-http.log" "preloaded curl ↔ preloaded HTTP server: server logs secured"

log=$T/c-pre-banner.log
preload "$log" "$EP" -T 30 -o "$T/pp-banner.data" connect 127.0.0.1 "$b2" recvline 'send:HELO secure\r\n' recvline \
	'send:QUIT\r\n' recvline >"$T/pp-banner.out" 2>&1
assert_eq "$(head -n1 "$T/pp-banner.data" 2>/dev/null | tr -d '\r')" "$BANNER" \
	"preloaded client ↔ preloaded banner server: banner arrives" "$T/pp-banner.out" "$log"
check "preloaded client ↔ preloaded banner server: dialogue answered" grep -q '^250 HELO secure' "$T/pp-banner.data"
assert_grep 'info: secured outbound .*-> 127\.0\.0\.1:'"$b2"' .*cipher=' "$log" "preloaded client ↔ preloaded banner server: client logs secured"
wait_grep 'secured inbound' "$T/s-banner.log" 5 || true
assert_grep 'info: secured inbound 127\.0\.0\.1:'"$b2"' <- .*cipher=' "$T/s-banner.log" \
	"preloaded client ↔ preloaded banner server: server logs secured"

# ---- plain client → preloaded banner server (request): the server waits
# server-first-wait (300 ms) for a ClientHello, then speaks in clear; the
# next plain connection from the same peer is known clear and not waited for.
# (Runs after the secured banner case: on loopback every client is
# 127.0.0.1, so once it is known clear a secsock client would get the clear
# banner too.)
t0=$(ms_now)
plain "$EP" -T 30 -o "$T/p-banner.data" connect 127.0.0.1 "$b2" recvline 'send:QUIT\r\n' recvline \
	>"$T/p-banner.out" 2>&1
t1=$(ms_now)
assert_eq "$(head -n1 "$T/p-banner.data" 2>/dev/null | tr -d '\r')" "$BANNER" \
	"plain client → preloaded banner server (request): banner arrives ($((t1 - t0)) ms)" "$T/p-banner.out" "$T/s-banner.log"
assert_between "$((t1 - t0))" 250 3000 "plain client → preloaded banner server: first banner after server-first-wait=300ms (ms)"
wait_grep 'clear inbound' "$T/s-banner.log" 5 || true
assert_grep 'notice: clear inbound 127\.0\.0\.1:'"$b2"' <- .*reason="client sent nothing within server-first-wait"' "$T/s-banner.log" \
	"plain client → preloaded banner server: server logs clear inbound at notice, the default level (nothing within server-first-wait)"
# Silence is not proof (an attacker can hold a ClientHello back), so the
# same client is waited for again: the server-first-wait is paid per
# connection, and logged again (each fallback is, up to the rate limit).
t0=$(ms_now)
plain "$EP" -T 30 -o "$T/p-banner2.data" connect 127.0.0.1 "$b2" recvline 'send:QUIT\r\n' recvline \
	>"$T/p-banner2.out" 2>&1
t1=$(ms_now)
assert_eq "$(head -n1 "$T/p-banner2.data" 2>/dev/null | tr -d '\r')" "$BANNER" "plain client again: banner arrives"
assert_between "$((t1 - t0))" 250 3000 "plain client again: silence proved nothing, server-first-wait again (ms)"
for _ in $(seq 50); do [ "$(grep -c 'notice: clear inbound .*nothing within' "$T/s-banner.log")" -ge 2 ] && break; sleep 0.1; done
assert_count 'clear inbound 127\.0\.0\.1:'"$b2"' <- .*reason="client sent nothing within server-first-wait"' "$T/s-banner.log" 2 \
	"plain client again: logged again, at notice"

# discovery-unproven-ttl remembers even a silent client when the admin asks.
b4=$(free_port)
POLICY=$T/remember.conf
write_policy "$POLICY" <<EOF
[defaults]
discovery-unproven-ttl = 1m
EOF
start_bg pre-banner4 preload "$T/s-banner4.log" "$PY" "$REPO/tests/tools/banner_server.py" 127.0.0.1 "$b4"
wait_listen "$b4" 10 "$BG_PID" || bail "preloaded banner server (remember) did not listen" "$T/pre-banner4.err"
unset POLICY
plain "$EP" -T 30 -o "$T/p-banner4.data" connect 127.0.0.1 "$b4" recvline 'send:QUIT\r\n' recvline >"$T/p-banner4.out" 2>&1
t0=$(ms_now)
plain "$EP" -T 30 -o "$T/p-banner5.data" connect 127.0.0.1 "$b4" recvline 'send:QUIT\r\n' recvline >"$T/p-banner5.out" 2>&1
t1=$(ms_now)
assert_eq "$(head -n1 "$T/p-banner5.data" 2>/dev/null | tr -d '\r')" "$BANNER" "discovery-unproven-ttl = 1m: banner arrives"
assert_between "$((t1 - t0))" 0 200 "discovery-unproven-ttl = 1m: the silent client is remembered, no server-first-wait (ms)"
wait_grep 'known clear peer' "$T/s-banner4.log" 5 || true
assert_count 'clear inbound 127\.0\.0\.1:'"$b4"' <- .*reason="discovery cache: known clear peer"' "$T/s-banner4.log" 1 \
	"discovery-unproven-ttl = 1m: server logs reason=\"discovery cache: known clear peer\""

# ---------------------------------------------------------------- preloaded servers, require inbound
p3=$(free_port)
b3=$(free_port)
POLICY=$T/require-in.conf
write_policy "$POLICY" <<EOF
[rule must-in]
direction = inbound
port = $p3, $b3
action = require
EOF
start_bg req-http preload "$T/s-req-http.log" "$PY" -m http.server --bind 127.0.0.1 --directory "$T/www" "$p3"
wait_listen "$p3" 10 "$BG_PID" || bail "preloaded http.server (require) did not listen" "$T/req-http.err" "$T/s-req-http.log"
start_bg req-banner preload "$T/s-req-banner.log" "$PY" "$REPO/tests/tools/banner_server.py" 127.0.0.1 "$b3"
wait_listen "$b3" 10 "$BG_PID" || bail "preloaded banner server (require) did not listen" "$T/req-banner.err"
unset POLICY

plain "$EP" -T 30 -o "$T/r-http.data" connect 127.0.0.1 "$p3" 'send:GET /page.txt HTTP/1.0\r\n\r\n' recvall \
	>"$T/r-http.out" 2>&1
assert_grep '^recv: 0 ECONNRESET$' "$T/r-http.out" "plain client → preloaded HTTP server (require): read fails ECONNRESET, no data" \
	"$T/s-req-http.log"
check "plain client → preloaded HTTP server (require): not a byte of the page" test ! -s "$T/r-http.data"
wait_grep 'refused inbound' "$T/s-req-http.log" 5 || true
assert_grep 'warn: refused inbound 127\.0\.0\.1:'"$p3"' <- .*rule=must-in reason="' "$T/s-req-http.log" \
	"plain client → preloaded HTTP server (require): server logs 'refused inbound ... rule=must-in reason=...'"
plain curl -sS -o /dev/null "http://127.0.0.1:$p3/page.txt" 2>/dev/null
rc=$?
check "plain curl → preloaded HTTP server (require): curl fails (exit $rc)" test "$rc" -ne 0

plain "$EP" -T 30 -o "$T/r-banner.data" connect 127.0.0.1 "$b3" recvline >"$T/r-banner.out" 2>&1
assert_grep '^recv: 0 ECONNRESET$' "$T/r-banner.out" "plain client → preloaded banner server (require): reset, banner never sent" \
	"$T/s-req-banner.log"
check "plain client → preloaded banner server (require): no banner byte reached the client" test ! -s "$T/r-banner.data"

finish
