# java (OpenJDK, single-file source launch): a thread-per-connection echo
# server; client nc -N.
NAME=java-thread
DESC="java Echo.java (threads) / nc -N"
KIND="threaded server, interpreter (JVM)"
PKGS="openjdk-17-jdk-headless netcat-openbsd"
prog_run() {
	local p
	p=$(free_port)
	cat >"$T/Echo.java" <<'JAVA'
import java.io.*; import java.net.*;
public class Echo { public static void main(String[] a) throws Exception {
	ServerSocket s = new ServerSocket(Integer.parseInt(a[0]), 16, InetAddress.getByName("127.0.0.1"));
	for (;;) { Socket c = s.accept(); new Thread(() -> { try (c) {
		InputStream in = c.getInputStream(); OutputStream out = c.getOutputStream();
		byte[] b = new byte[65536]; int n; while ((n = in.read(b)) > 0) out.write(b, 0, n);
	} catch (IOException e) { } }).start(); } } }
JAVA
	srv_bg java java "$T/Echo.java" "$p"
	listen_or_bail "$p" "$BG_PID" java
	tap_to "$p"
	make_want 300000
	cli nc -N 127.0.0.1 "$TAP_PORT" <"$T/want" >"$T/got"
}
