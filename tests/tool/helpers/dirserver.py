#!/usr/bin/env python3
"""A stand-in HTTP(S) directory for tests/tool/discover.sh (test-only).

PUT /.well-known/ni/sha3-256/B stores the body in ROOT/B and appends "PUT B"
to ROOT/put.log; GET returns ROOT/B (404 with a JSON error when missing).
Knobs, as files in ROOT: B.status makes GET of B answer that status (body
ROOT/B); put.status and put.body make every PUT answer with them instead of
storing. The server binds a free loopback port and writes it to PORTFILE.

usage: dirserver.py ROOT PORTFILE [CERT KEY]
"""
import http.server
import os
import ssl
import sys

ROOT = sys.argv[1]
PREFIX = "/.well-known/ni/sha3-256/"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def name(self):
        if not self.path.startswith(PREFIX):
            return None
        b = self.path[len(PREFIX):]
        ok = len(b) == 43 and all(c.isalnum() or c in "-_" for c in b)
        return b if ok else None

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_file(self, name):
        with open(os.path.join(ROOT, name), "rb") as f:
            return f.read()

    def do_GET(self):
        b = self.name()
        if b is None or not os.path.exists(os.path.join(ROOT, b)):
            self.reply(404, b'{"error":"not_found","reason":"no record set"}')
            return
        status = 200
        if os.path.exists(os.path.join(ROOT, b + ".status")):
            status = int(self.read_file(b + ".status"))
        self.reply(status, self.read_file(b))

    def do_PUT(self):
        b = self.name()
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(min(length, 1 << 20))
        if b is None:
            self.reply(404, b'{"error":"not_found","reason":"bad path"}')
            return
        with open(os.path.join(ROOT, "put.log"), "a") as log:
            log.write("PUT %s %s\n" % (b, self.headers.get("Content-Type")))
        if os.path.exists(os.path.join(ROOT, "put.status")):
            self.reply(int(self.read_file("put.status")), self.read_file("put.body"))
            return
        with open(os.path.join(ROOT, b), "wb") as f:
            f.write(body)
        self.reply(201, b'{"stored":true}')


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
if len(sys.argv) > 4:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
server.serve_forever()
