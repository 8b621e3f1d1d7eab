# SMTP (the server speaks first: "220" banner): python3's smtpd
# DebuggingServer (asyncore select loop) prints each message it receives;
# client swaks (perl).
NAME=smtpd
DESC="python3 -m smtpd DebuggingServer / swaks"
KIND="server speaks first, event loop (select), interpreter"
PKGS="python3 swaks"
prog_run() {
	local p body
	p=$(free_port)
	PYTHONWARNINGS=ignore PYTHONUNBUFFERED=1 srv_bg smtpd "$PY" -m smtpd -n -c DebuggingServer "127.0.0.1:$p"
	listen_or_bail "$p" "$BG_PID" smtpd
	tap_to "$p"
	body="$MARKER$(head -c 3000 /dev/urandom | base64 -w0)"
	printf '%s\n' "$body" >"$T/want"
	cli swaks -S 1 --server 127.0.0.1 --port "$TAP_PORT" --from a@example.org --to b@example.org \
		--h-Subject compat --body "$body" || return 1
	wait_grep "^b'$MARKER" "$T/smtpd.out" 5
	sed -n "s/^b'\($MARKER[^']*\)'\$/\1/p" "$T/smtpd.out" >"$T/got"
}
