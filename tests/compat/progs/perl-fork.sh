# perl: a fork-per-connection echo server (IO::Socket::INET, fork after
# accept); client netcat-openbsd (nc -N: half-close after stdin's EOF).
NAME=perl-fork
DESC="perl fork-per-conn echo / nc -N"
KIND="fork-per-connection, interpreter"
PKGS="perl netcat-openbsd"
QUICK=1
prog_run() {
	local p
	p=$(free_port)
	srv_bg perl perl -MIO::Socket::INET -e '
		$SIG{CHLD} = "IGNORE";
		my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0],
			Listen => 16, ReuseAddr => 1) or die "listen: $!";
		while (1) { my $c = $l->accept or next;
			if (fork == 0) { close $l; my $b; while (sysread($c, $b, 65536)) { syswrite($c, $b) } exit 0 }
			close $c }' "$p"
	listen_or_bail "$p" "$BG_PID" perl
	tap_to "$p"
	{ echo "$MARKER"; head -c 300000 /dev/urandom | base64; } >"$T/want"
	for i in 1 2 3; do
		cli nc -N 127.0.0.1 "$TAP_PORT" <"$T/want" >"$T/got.$i" || return 1
	done
	cat "$T/got.1" >"$T/got"
	cmp "$T/got.2" "$T/want" && cmp "$T/got.3" "$T/want"
}
