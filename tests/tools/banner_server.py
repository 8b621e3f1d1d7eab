#!/usr/bin/env python3
"""banner_server.py [--quiet] HOST PORT — a server-speaks-first line service (SMTP-like).

On accept it sends "220 secsock-test banner\r\n" before reading anything,
then answers each line L with "250 L" until the client sends QUIT or closes.
--quiet: no banner, and lines that are not printable ASCII get no answer at
all (a TLS ClientHello sent to it is met with silence: a peer that never
answers a probe, yet serves a clear client).
Blocking sockets, one thread per connection (socketserver).  Used both plain
and under the preload by the integration tests.
"""
import socketserver
import sys


class Handler(socketserver.StreamRequestHandler):
    quiet = False

    def handle(self):
        if not self.quiet:
            self.wfile.write(b"220 secsock-test banner\r\n")
            self.wfile.flush()
        for line in self.rfile:
            line = line.rstrip(b"\r\n")
            if self.quiet and not all(32 <= c < 127 for c in line):
                continue
            if line.upper() == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                break
            self.wfile.write(b"250 " + line + b"\r\n")
            self.wfile.flush()


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    args = sys.argv[1:]
    if args and args[0] == "--quiet":
        Handler.quiet = True
        args = args[1:]
    host, port = args[0], int(args[1])
    if ":" in host:
        import socket
        Server.address_family = socket.AF_INET6
    with Server((host, port), Handler) as srv:
        srv.serve_forever()


if __name__ == "__main__":
    main()
