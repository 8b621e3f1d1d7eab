#!/usr/bin/env python3
"""echo_peer.py — the one-request echo peer of the integration tests.

  echo_peer.py server PORT [GOT]     listen on 127.0.0.1:PORT; per connection
                                     (a thread each): read one chunk, append
                                     it to GOT, answer "echo:" + chunk, close
  echo_peer.py client PORT MARKER [N]
                                     N connections (default 1) in turn: send
                                     "MARKER-i\\n", print "reply: ..." (or
                                     "reply: EOF") or "error: ERRNO-NAME"

Run plain or under the preload; what it prints is what the tests grep.
"""
import errno
import socket
import sys
import threading


def server(port, got):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    out = open(got, "ab", buffering=0) if got else None
    lock = threading.Lock()

    def serve(c):
        try:
            d = c.recv(4096)
            if out:
                with lock:
                    out.write(d)
            c.sendall(b"echo:" + d)
        except OSError:
            pass
        c.close()

    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def client(port, marker, n):
    for i in range(n):
        s = socket.socket()
        try:
            s.settimeout(10)
            s.connect(("127.0.0.1", port))
            s.sendall(("%s-%d\n" % (marker, i)).encode())
            print("reply:", s.recv(100).decode(errors="replace").strip() or "EOF", flush=True)
        except OSError as e:
            print("error:", errno.errorcode.get(e.errno, e), flush=True)
        s.close()


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "server":
        server(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
    elif len(sys.argv) >= 4 and sys.argv[1] == "client":
        client(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    else:
        sys.exit(__doc__)
