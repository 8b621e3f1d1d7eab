# rsync --daemon (fork per connection; both sides send "@RSYNCD:" greetings,
# the server's first) / the rsync client pulling a file over rsync://.
NAME=rsync
DESC="rsync --daemon / rsync rsync://"
KIND="fork-per-connection, server speaks first"
PKGS="rsync"
prog_run() {
	local p
	p=$(free_port)
	mkdir -p "$T/mod" "$T/dst"
	make_want 500000
	cp "$T/want" "$T/mod/f.txt"
	printf 'use chroot = no\npid file = %s/rsyncd.pid\n[m]\npath = %s/mod\nread only = yes\nuid = %s\ngid = %s\n' \
		"$T" "$T" "$(id -un)" "$(id -gn)" >"$T/rsyncd.conf"
	srv_bg rsyncd rsync --daemon --no-detach --address=127.0.0.1 --port="$p" --config="$T/rsyncd.conf"
	listen_or_bail "$p" "$BG_PID" rsyncd
	tap_to "$p"
	cli rsync -q "rsync://127.0.0.1:$TAP_PORT/m/f.txt" "$T/dst/" || return 1
	cp "$T/dst/f.txt" "$T/got"
}
