#!/usr/bin/env python3
"""Turns a meson testlog.json into one TAP stream: each TAP subtest of each
test becomes a line prefixed with the test's name; a test that produced no
TAP lines counts as one result (its meson verdict)."""
import json
import re
import sys

n = 0
lines = []
with open(sys.argv[1]) as f:
    for raw in f:
        t = json.loads(raw)
        name = t.get("name", "?")
        result = t.get("result", "FAIL")
        tap = [l for l in (t.get("stdout") or "").splitlines() if re.match(r"^(not )?ok\b", l)]
        if not tap:
            n += 1
            ok = result in ("OK", "EXPECTEDFAIL")
            skip = " # SKIP" if result == "SKIP" else ""
            lines.append(f"{'ok' if ok or skip else 'not ok'} {n} - {name}{skip}")
            continue
        for l in tap:
            n += 1
            m = re.match(r"^(not ok|ok)\s*\d*\s*-?\s*(.*)$", l)
            status, desc = m.group(1), m.group(2)
            lines.append(f"{status} {n} - {name}: {desc}")
        if result not in ("OK", "SKIP", "EXPECTEDFAIL") and all(l.startswith("ok") for l in tap):
            n += 1  # crashed or exited non-zero after reporting passes
            lines.append(f"not ok {n} - {name}: exited with {result}")
print(f"1..{n}")
print("\n".join(lines))
