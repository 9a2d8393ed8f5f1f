#!/usr/bin/env python3
"""pace.py RATE FILE - copy FILE to stdout at no more than RATE bytes a
second (test code: a slow writer for transfers that must last). Time lost
while a write blocks is not made up with a burst afterwards."""
import sys
import time

CHUNK = 16384
SLACK = 0.05  # seconds behind that count as a stall, not as sleep overshoot


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__ + "\n")
        sys.exit(2)
    rate = float(sys.argv[1])
    out = sys.stdout.buffer
    nxt = time.monotonic()
    with open(sys.argv[2], "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            now = time.monotonic()
            if nxt > now:
                time.sleep(nxt - now)
            out.write(chunk)
            out.flush()
            # the next chunk is due CHUNK/rate after this one was due; when
            # a write blocked (the reader stalled), from when it returned
            nxt += len(chunk) / rate
            now = time.monotonic()
            if now - nxt > SLACK:
                nxt = now


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.exit(1)
