# ruby: a thread-per-connection echo server (TCPServer + Thread) and a ruby
# client that writes, half-closes (close_write) and reads to EOF.
NAME=ruby-thread
DESC="ruby TCPServer+Thread echo / ruby TCPSocket"
KIND="threaded server, interpreter"
PKGS="ruby"
prog_run() {
	local p
	p=$(free_port)
	srv_bg ruby ruby -rsocket -e '
		s = TCPServer.new("127.0.0.1", ARGV[0].to_i)
		loop { Thread.start(s.accept) { |c| while (b = c.readpartial(65536) rescue nil); c.write(b); end; c.close } }' "$p"
	listen_or_bail "$p" "$BG_PID" ruby
	tap_to "$p"
	make_want 300000
	cli ruby -rsocket -e '
		c = TCPSocket.new("127.0.0.1", ARGV[0].to_i); d = File.binread(ARGV[1])
		w = Thread.new { c.write(d); c.close_write }
		File.binwrite(ARGV[2], c.read); w.join' "$TAP_PORT" "$T/want" "$T/got"
}
