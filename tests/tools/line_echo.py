#!/usr/bin/env python3
"""line_echo.py — a long-lived line echo for tests that keep a connection
open across an event (80-group.sh: an L2 period boundary).

  line_echo.py server PORT          listen on 127.0.0.1:PORT; per connection
                                    (a thread each) echo every line until EOF
  line_echo.py client PORT N GAP    one connection: N lines "line-i", GAP
                                    seconds apart, print "reply: ..." for each
                                    echo, "error: ..." on failure
"""
import socket
import sys
import threading
import time


def server(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)

    def serve(c):
        f = c.makefile("rb")
        try:
            for line in f:
                c.sendall(line)
        except OSError:
            pass
        c.close()

    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def client(port, n, gap):
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        f = c.makefile("rb")
        for i in range(n):
            c.sendall(b"line-%d\n" % i)
            print("reply: " + f.readline().decode().strip(), flush=True)
            time.sleep(gap)
        c.close()
    except OSError as e:
        print("error: %s" % e, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]))
    else:
        client(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
