#!/usr/bin/env python3
"""put_server.py HOST PORT DIR — http.server (standard library) that also takes uploads.

`python3 -m http.server` serves GET only; the upload half of the bulk test
needs PUT: the body (Content-Length) is written to DIR/<basename of path>
and the reply is "201 Created" with the body's size.  Everything else is
SimpleHTTPRequestHandler from Debian's python3.
"""
import functools
import http.server
import os
import socket
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_PUT(self):
        length = int(self.headers.get("Content-Length", "0"))
        name = os.path.basename(self.path) or "upload.bin"
        got = 0
        with open(os.path.join(self.directory, name), "wb") as f:
            while got < length:
                chunk = self.rfile.read(min(1 << 20, length - got))
                if not chunk:
                    break
                f.write(chunk)
                got += len(chunk)
        body = f"stored {got} bytes\n".encode()
        self.send_response(201 if got == length else 400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("put_server: " + (fmt % args) + "\n")


def main():
    host, port, directory = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    cls = http.server.ThreadingHTTPServer
    if ":" in host:
        cls = type("Server6", (cls,), {"address_family": socket.AF_INET6})
    srv = cls((host, port), functools.partial(Handler, directory=directory))
    srv.serve_forever()


if __name__ == "__main__":
    main()
