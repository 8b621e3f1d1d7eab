#!/usr/bin/env python3
"""banner_server.py HOST PORT — a server-speaks-first line service (SMTP-like).

On accept it sends "220 secsock-test banner\r\n" before reading anything,
then answers each line L with "250 L" until the client sends QUIT or closes.
Blocking sockets, one thread per connection (socketserver).  Used both plain
and under the preload by the integration tests.
"""
import socketserver
import sys


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"220 secsock-test banner\r\n")
        self.wfile.flush()
        for line in self.rfile:
            line = line.rstrip(b"\r\n")
            if line.upper() == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                break
            self.wfile.write(b"250 " + line + b"\r\n")
            self.wfile.flush()


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    if ":" in host:
        import socket
        Server.address_family = socket.AF_INET6
    with Server((host, port), Handler) as srv:
        srv.serve_forever()


if __name__ == "__main__":
    main()
