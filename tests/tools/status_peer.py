#!/usr/bin/env python3
"""status_peer.py — long-lived peers for tests/cli/status.sh.

  status_peer.py server PORT         listen on 127.0.0.1:PORT; every
                                     connection (a thread each) is echoed
                                     until the peer closes it
  status_peer.py client DIR PORT...  one connection per PORT in turn: send
                                     "hello\\n", print "PORT ok" or "PORT
                                     error: ERRNO-NAME"; keep the connected
                                     ones open; when DIR/more appears, send
                                     20000 more bytes on each, read them
                                     back, print "more done"; then hold
                                     until killed

Run plain or under the preload; what it prints is what the test greps.
"""
import errno
import os
import socket
import sys
import threading
import time


def echo(c):
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()


def server(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()


def recv_n(c, n):
    got = 0
    while got < n:
        d = c.recv(65536)
        if not d:
            break
        got += len(d)
    return got


def client(d, ports):
    live = []
    for p in ports:
        try:
            c = socket.create_connection(("127.0.0.1", p), timeout=10)
            c.sendall(b"hello\n")
            if recv_n(c, 6) != 6:
                raise OSError(errno.ECONNRESET, "short reply")
            live.append(c)
            print(p, "ok", flush=True)
        except OSError as e:
            print(p, "error:", errno.errorcode.get(e.errno, str(e)), flush=True)
    while not os.path.exists(os.path.join(d, "more")):
        time.sleep(0.05)
    for c in live:
        c.sendall(b"x" * 20000)
        recv_n(c, 20000)
    print("more done", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]))
    else:
        client(sys.argv[2], [int(p) for p in sys.argv[3:]])
