#!/usr/bin/env python3
"""A tampering DNS proxy for tests/tool/discover.sh (test-only).

Listens on a free loopback UDP port (written to PORTFILE), forwards each
query to the server at 127.0.0.1:UPSTREAM and returns its answer with the
first occurrence of FROM replaced by TO (same length: one byte of a TXT
record's RDATA changes, the packet stays well-formed).

usage: dnsproxy.py UPSTREAM PORTFILE FROM TO
"""
import os
import socket
import sys

upstream = ("127.0.0.1", int(sys.argv[1]))
old, new = sys.argv[3].encode(), sys.argv[4].encode()
assert len(old) == len(new)

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(sock.getsockname()[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
while True:
    query, client = sock.recvfrom(65535)
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.settimeout(5)
    try:
        up.sendto(query, upstream)
        answer, _ = up.recvfrom(65535)
    except OSError:
        continue
    finally:
        up.close()
    sock.sendto(answer.replace(old, new, 1), client)
