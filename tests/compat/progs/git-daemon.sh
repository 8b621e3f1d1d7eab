# git daemon: forks per connection and execs `git upload-pack` with the
# socket as fd 0 and fd 1 (a daemon exec hand-off) / git clone git://.
# Compression 0, so the marker is visible in a clear pack.
NAME=git-daemon
DESC="git daemon (fork+exec upload-pack) / git clone"
KIND="daemon exec hand-off, fork-per-connection"
PKGS="git"
# KNOWN.md #2: the client forks index-pack, which inherits the secured fd.
XFAIL_both="git clone forks index-pack with the secured fd: SS_INVALID_HANDLE, early EOF (KNOWN.md #2)"
prog_run() {
	local p
	p=$(free_port)
	mkdir -p "$T/base/r"
	make_want 200000
	(cd "$T/base/r" && git init -q && git config core.compression 0 && git config pack.compression 0 && cp "$T/want" f.txt && git add f.txt &&
		git -c user.name=c -c user.email=c@c commit -qm "$MARKER") || return 1
	srv_bg gitd git daemon --listen=127.0.0.1 --port="$p" --export-all --base-path="$T/base" --reuseaddr
	listen_or_bail "$p" "$BG_PID" gitd
	tap_to "$p"
	cli git clone -q "git://127.0.0.1:$TAP_PORT/r" "$T/clone" || return 1
	cp "$T/clone/f.txt" "$T/got"
}
