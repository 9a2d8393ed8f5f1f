#!/usr/bin/env python3
"""impair_udp.py - the UDP echo server and client that impair_selftest.sh
uses to check the relay (test code).

  impair_udp.py echo ADDR PORTFILE SUMMARY
      Echoes every datagram back to its sender from ADDR (port chosen by the
      kernel, written to PORTFILE). On SIGTERM it writes SUMMARY as key=value
      lines: count (datagrams), ports (distinct source ports, in the order
      first seen) and seqs (a digest of the sequence numbers in arrival order).

  impair_udp.py client ADDR PORT COUNT INTERVAL_MS [SIZE]
      Sends COUNT datagrams (an 8-byte sequence number, then bytes derived
      from it; SIZE bytes in all, default 200), one every INTERVAL_MS, and
      reads the echoes until all came back or nothing came for 0.6 s (10 s at
      most after the last send). Prints key=value lines:
        sent, replies (every datagram read), unique (sequence numbers back),
        intact (replies byte-identical to what was sent), differ (replies that
        are not), onebit (of those, differing from the datagram their sequence
        number names in one or two bits: a flip each way), dups (replies
        beyond the first for a sequence number), ooo (replies with a lower
        sequence number than one before), rtt_med_ms, rtt_max_ms,
        gap_ms (the longest run of sequence numbers that never came back,
        measured in send time), late_ok (echoes that came back after the
        first half of the sends).
"""
import hashlib
import os
import signal
import socket
import struct
import sys
import time


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def payload(seq, size):
    body = hashlib.sha256(struct.pack(">Q", seq)).digest()
    body = (body * (size // len(body) + 1))[: max(size - 8, 0)]
    return struct.pack(">Q", seq) + body


def echo(addr, portfile, summary):
    s = socket.socket(family_of(addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind((addr, 0))
    ports, seqs, count = [], hashlib.sha256(), [0]

    def stop(*_):
        with open(summary + ".tmp", "w") as f:
            f.write("count=%d\n" % count[0])
            f.write("ports=%s\n" % ",".join(str(p) for p in ports))
            f.write("seqs=%s\n" % seqs.hexdigest()[:16])
        os.rename(summary + ".tmp", summary)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    while True:
        data, src = s.recvfrom(65536)
        count[0] += 1
        if src[1] not in ports:
            ports.append(src[1])
        seqs.update(data[:8])
        s.sendto(data, src)


def client(addr, port, count, interval_ms, size):
    s = socket.socket(family_of(addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.connect((addr, port))
    s.setblocking(False)
    sent_at = {}
    first = {}
    replies = intact = differ = onebit = dups = ooo = 0
    last_seq = -1
    rtts = []

    def drain():
        nonlocal replies, intact, differ, onebit, dups, ooo, last_seq
        got = False
        while True:
            try:
                data = s.recv(65536)
            except (BlockingIOError, ConnectionRefusedError):
                return got
            now = time.monotonic()
            got = True
            replies += 1
            seq = struct.unpack(">Q", data[:8])[0] if len(data) >= 8 else -1
            if seq in sent_at and data == payload(seq, size):
                intact += 1
            else:
                differ += 1
                # the datagram it was: the one its sequence number names,
                # or (when a flip hit the number) one a bit away from it
                head = int.from_bytes(data[:8].ljust(8, b"\0"), "big")
                best = None
                for cand in [head] + [head ^ (1 << k) for k in range(64)]:
                    if cand in sent_at:
                        ref = payload(cand, size)
                        if len(ref) == len(data):
                            bits = sum(bin(a ^ b).count("1") for a, b in zip(ref, data))
                            best = bits if best is None else min(best, bits)
                if best is not None and 1 <= best <= 2:
                    onebit += 1
                continue
            if seq in first:
                dups += 1
                continue
            first[seq] = now
            rtts.append((now - sent_at[seq]) * 1000.0)
            if seq < last_seq:
                ooo += 1
            last_seq = max(last_seq, seq)

    start = time.monotonic()
    for seq in range(count):
        target = start + seq * interval_ms / 1000.0
        while True:
            now = time.monotonic()
            if now >= target:
                break
            drain()
            time.sleep(min(target - now, 0.0005))
        sent_at[seq] = time.monotonic()
        try:
            s.send(payload(seq, size))
        except (BlockingIOError, ConnectionRefusedError):
            pass
        drain()
    end = time.monotonic()
    quiet = time.monotonic()
    while len(first) < count and time.monotonic() - quiet < 0.6 and time.monotonic() - end < 10:
        if drain():
            quiet = time.monotonic()
        time.sleep(0.002)

    run_start = None
    longest = 0.0
    for seq in range(count):
        if seq not in first:
            if run_start is None:
                run_start = sent_at[seq]
            longest = max(longest, sent_at[seq] - run_start)
        else:
            run_start = None
    gap = longest * 1000.0
    rtts.sort()
    half = count // 2
    print("sent=%d" % count)
    print("replies=%d" % replies)
    print("unique=%d" % len(first))
    print("intact=%d" % intact)
    print("differ=%d" % differ)
    print("onebit=%d" % onebit)
    print("dups=%d" % dups)
    print("ooo=%d" % ooo)
    print("rtt_med_ms=%.1f" % (rtts[len(rtts) // 2] if rtts else -1))
    print("rtt_max_ms=%.1f" % (rtts[-1] if rtts else -1))
    print("gap_ms=%.0f" % gap)
    print("late_ok=%d" % sum(1 for q in first if q >= half))


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "echo":
        echo(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) in (6, 7) and sys.argv[1] == "client":
        size = int(sys.argv[6]) if len(sys.argv) == 7 else 200
        client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), size)
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
