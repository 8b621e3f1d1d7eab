# vsftpd (the server speaks first; a process per session) / python3 ftplib:
# a passive RETR, then an active-mode RETR (PORT: vsftpd connects back to the
# client — the second connection in the other direction).  The data
# connections are tapped too: vsftpd announces 127.0.0.2 as its passive
# address, the client announces 127.0.0.2 in PORT, and taps on 127.0.0.2
# relay to the real listeners on 127.0.0.1.
NAME=vsftpd
DESC="vsftpd / python3 ftplib (PASV + active PORT)"
KIND="server speaks first, fork per session, reverse data connection"
PKGS="vsftpd python3"
# KNOWN.md #3-#5.
XFAIL_both="preloaded vsftpd never answers the ClientHello; the clear retry gets EOF, no banner (KNOWN.md #3)"
XFAIL_srv="preloaded vsftpd closes every plain client's session without a banner (KNOWN.md #4)"
XFAIL_cli="the PASV data connect is held 10 s in discovery while vsftpd waits for RETR, then reset (KNOWN.md #5)"
prog_run() {
	local p q r
	p=$(free_port) q=$(free_port) r=$(free_port)
	mkdir -p "$T/ftp" /var/run/vsftpd/empty
	make_want 400000
	cp "$T/want" "$T/ftp/f.txt"
	chmod 755 "$T" "$T/ftp"; chmod 644 "$T/ftp/f.txt"; chmod 666 "$T/srv.log"
	cat >"$T/vsftpd.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$p
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=$T/ftp
local_enable=NO
write_enable=NO
pasv_enable=YES
pasv_address=127.0.0.2
pasv_min_port=$q
pasv_max_port=$q
pasv_promiscuous=YES
port_enable=YES
port_promiscuous=YES
connect_from_port_20=NO
xferlog_enable=NO
vsftpd_log_file=$T/vsftpd.log
secure_chroot_dir=/var/run/vsftpd/empty
CONF
	srv_bg vsftpd vsftpd "$T/vsftpd.conf"
	listen_or_bail "$p" "$BG_PID" vsftpd
	tap_to "$p"
	local ctl=$TAP_PORT
	tap_to "$q" 127.0.0.2 "$q"
	tap_to "$r" 127.0.0.2 "$r"
	cli "$PY" - "$ctl" "$r" "$T/got" "$T/got.active" <<'PYEOF'
import ftplib, socket, sys
ctl, r, out, out2 = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
f = ftplib.FTP()
f.connect("127.0.0.1", ctl, timeout=20)
f.login()
with open(out, "wb") as o:
    f.retrbinary("RETR f.txt", o.write)
# active mode: listen on 127.0.0.1:r, announce 127.0.0.2:r (the tap)
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", r)); ls.listen(1)
f.sendcmd("PORT 127,0,0,2,%d,%d" % (r >> 8, r & 255))
f.sendcmd("TYPE I")
f.putcmd("RETR f.txt"); resp = f.getresp()
if not resp.startswith("1"): raise SystemExit("RETR: " + resp)
c, _ = ls.accept()
with open(out2, "wb") as o:
    while True:
        b = c.recv(65536)
        if not b: break
        o.write(b)
c.close(); print(f.voidresp()); f.quit()
PYEOF
	[ $? -eq 0 ] || return 1
	cmp "$T/got.active" "$T/want"
}
