#!/usr/bin/env bash
# 30-blocking-pairs.sh — issue 4, must-show 1: unmodified blocking programs,
# both ends preloaded with the embedded default policy, move 100 MB each way
# byte-exact, over 127.0.0.1 and ::1, and both ends log "secured".
#   - socat ↔ socat, full duplex at once (each end sends its file while it
#     receives the other's);
#   - `python3 -m http.server` + curl (download), and the same http.server
#     module with a PUT handler (tests/tools/put_server.py) + `curl -T` (upload).
# SECSOCK_BULK_BYTES overrides the size (default 100 MiB).
. "$(dirname "$0")/lib.sh"
require_lib
require_cmd socat curl ss sha256sum
require_no_system_policy
unset POLICY

SIZE=${SECSOCK_BULK_BYTES:-104857600}
mkdir -p "$T/www" "$T/up"
make_data "$T/www/a.bin" "$SIZE"
make_data "$T/www/b.bin" "$SIZE"

# secured_both SLOG CLOG WHAT: the server logged a secured inbound and the
# client a secured outbound connection, and neither logged a clear one.
secured_both() {
	local slog=$1 clog=$2 what=$3
	wait_grep 'info: secured inbound ' "$slog" 5 || true
	assert_grep 'info: secured inbound .*cipher=' "$slog" "$what: server logs 'secured inbound ... cipher='"
	assert_grep 'info: secured outbound .*cipher=' "$clog" "$what: client logs 'secured outbound ... cipher='"
	assert_no_grep ' (clear|refused|blocked|bypass) ' "$slog" "$what: server logged no clear/refused connection"
	assert_no_grep ' (clear|refused|blocked|bypass) ' "$clog" "$what: client logged no clear/refused connection"
}

for fam in 4 6; do
	if [ $fam = 4 ]; then host=127.0.0.1 uhost=127.0.0.1 saddr=127.0.0.1; else host=::1 uhost='[::1]' saddr='[::1]'; fi

	# ---- socat ↔ socat, both directions at once
	port=$(free_port "$host")
	slog=$T/socat$fam-server.log clog=$T/socat$fam-client.log
	rm -f "$T/a.socat$fam" "$T/b.socat$fam"
	start_bg socat$fam-server preload "$slog" socat -t 60 \
		"TCP$fam-LISTEN:$port,bind=$saddr,reuseaddr" \
		"OPEN:$T/www/b.bin,rdonly!!CREATE:$T/b.socat$fam"
	spid=$BG_PID
	wait_listen "$port" 10 "$spid" || bail "socat server on $host:$port did not listen" "$T/socat$fam-server.err"
	t0=$(ms_now)
	TMO=60 preload "$clog" socat -t 60 "OPEN:$T/www/a.bin,rdonly!!CREATE:$T/a.socat$fam" "TCP$fam:$saddr:$port" \
		2>"$T/socat$fam-client.err"
	rc=$?
	t1=$(ms_now)
	wait_gone "$spid" 30
	assert_eq "$rc" 0 "socat IPv$fam: client exits 0 ($((t1 - t0)) ms for 2 x $SIZE bytes)" "$T/socat$fam-client.err" "$clog"
	assert_same_file "$T/www/a.bin" "$T/b.socat$fam" "socat IPv$fam: client→server $SIZE bytes byte-exact"
	assert_same_file "$T/www/b.bin" "$T/a.socat$fam" "socat IPv$fam: server→client $SIZE bytes byte-exact"
	secured_both "$slog" "$clog" "socat IPv$fam"

	# ---- python3 -m http.server + curl: download
	port=$(free_port "$host")
	slog=$T/http$fam-server.log clog=$T/http$fam-client.log
	start_bg http$fam-server preload "$slog" "$PY" -m http.server --bind "$host" --directory "$T/www" "$port"
	spid=$BG_PID
	wait_listen "$port" 10 "$spid" || bail "http.server on $host:$port did not listen" "$T/http$fam-server.err"
	code=$(TMO=60 preload "$clog" curl -sS -g -o "$T/dl$fam.bin" -w '%{http_code}' "http://$uhost:$port/b.bin" 2>"$T/curl$fam.err")
	assert_eq "$code" 200 "http.server+curl IPv$fam: GET /b.bin answers 200" "$T/curl$fam.err" "$clog" "$slog"
	assert_same_file "$T/www/b.bin" "$T/dl$fam.bin" "http.server+curl IPv$fam: downloaded $SIZE bytes byte-exact"
	secured_both "$slog" "$clog" "http.server+curl IPv$fam download"
	stop_pid "$spid"

	# ---- http.server (with PUT) + curl -T: upload
	port=$(free_port "$host")
	slog=$T/put$fam-server.log clog=$T/put$fam-client.log
	rm -f "$T/up/a$fam.bin"
	start_bg put$fam-server preload "$slog" "$PY" "$REPO/tests/tools/put_server.py" "$host" "$port" "$T/up"
	spid=$BG_PID
	wait_listen "$port" 10 "$spid" || bail "put_server on $host:$port did not listen" "$T/put$fam-server.err"
	code=$(TMO=60 preload "$clog" curl -sS -g -H 'Expect:' -T "$T/www/a.bin" -o "$T/put$fam.reply" -w '%{http_code}' \
		"http://$uhost:$port/a$fam.bin" 2>"$T/curlput$fam.err")
	assert_eq "$code" 201 "http.server+curl IPv$fam: PUT /a$fam.bin answers 201" "$T/curlput$fam.err" "$clog" "$slog"
	assert_same_file "$T/www/a.bin" "$T/up/a$fam.bin" "http.server+curl IPv$fam: uploaded $SIZE bytes byte-exact"
	secured_both "$slog" "$clog" "http.server+curl IPv$fam upload"
	stop_pid "$spid"
done

finish
