# PostgreSQL 15 (postmaster forks a backend per connection; the startup
# packet is client-first) / psql running a query whose result carries the
# marker.  initdb once into the cache, as user postgres.
NAME=postgres
DESC="postgres (fork per backend) / psql"
KIND="database, fork-per-connection"
PKGS="postgresql postgresql-client"
prog_run() {
	local p bin=/usr/lib/postgresql/15/bin d
	p=$(free_port)
	d=$CACHE/data
	if [ ! -s "$d/PG_VERSION" ]; then
		rm -rf "$d"; mkdir -p "$d"; chown postgres "$CACHE" "$d"
		runuser -u postgres -- "$bin/initdb" -A trust -U postgres -D "$d" >"$T/initdb.log" 2>&1 || return 1
	fi
	# the server runs as postgres: its secsock log must be its own
	chmod 755 "$T"; chown postgres "$T/srv.log"
	mkdir -p "$T/sock"; chown postgres "$T/sock"
	srv_bg pg runuser -u postgres -- "$bin/postgres" -D "$d" -c listen_addresses=127.0.0.1 -p "$p" \
		-c unix_socket_directories="$T/sock" -c ssl=off -c fsync=off
	listen_or_bail "$p" "$BG_PID" pg
	tap_to "$p"
	printf '%s\n' "$MARKER$(head -c 30000 /dev/urandom | base64 -w0)" >"$T/want"
	cli psql -X -At -h 127.0.0.1 -p "$TAP_PORT" -U postgres -d postgres \
		-c "select '$(cat "$T/want")'" >"$T/got"
}
