#!/usr/bin/env python3
"""fork_echo.py HOST PORT MODE — a fork-per-connection echo server whose
children end in one of three ways once the client half-closed:
  close    close the socket, then os._exit(0)
  noclose  os._exit(0) with the socket still open (socat's children exit()
           so, tests/soak/71-load-fork.sh; python's sys.exit would close it)
  kill     SIGKILL themselves with the socket still open (a crash, an OOM kill)
The socket calls are plain: the preload is what secures them."""
import os
import signal
import socket
import sys


def child(c, mode):
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "close":
        c.close()
    os._exit(0)


def main(host, port, mode):
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)   # children reaped by the kernel
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(1024)
    while True:
        c, _ = ls.accept()
        if os.fork() == 0:
            ls.close()
            child(c, mode)
        c.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
