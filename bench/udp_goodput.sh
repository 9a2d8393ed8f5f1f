#!/usr/bin/env bash
# udp_goodput.sh - bulk goodput of the datagram transport over loopback,
# against baselines measured in the same run. One transfer of PL_BENCH_MB
# (default 1024) MiB from a pipe, each way of moving it 3 rounds
# (interleaved), median:
#
#   1. peerlink over UDP: `head -c N /dev/zero | peerlink connect --udp`
#      -> `peerlink listen --udp --once` -> counted;
#   2. TLS 1.3 over TCP, TLS_CHACHA20_POLY1305_SHA256 forced on both ends
#      (the same AEAD as the datagram packets): `openssl s_client -quiet`
#      -> `openssl s_server -quiet` -> counted, mutual auth with Ed25519
#      certificates as in stls_tools.sh;
#   3. iperf3, plain TCP: `iperf3 -c -n N -J` against `iperf3 -s -1`, the
#      receiver's bits_per_second (no encryption, no pipes: the ceiling;
#      the sender's byte count must be N (or up to 1 MiB more: it sends
#      whole blocks), the receiver's within 10% of it: it stops counting
#      at the client's end-of-test message);
#   4. for context, peerlink over TCP (symmetric TLS): `connect --tcp` ->
#      `listen --tcp --once`.
#
# For 1, 2 and 4 the time runs from the first byte written into the
# sender's stdin to the last byte read from the receiver's stdout (two
# small counters, one clock: CLOCK_MONOTONIC), so it includes the
# handshake. The two counters alone, fed into each other, move about
# 2500 MB/s here: far above what they measure. MB are 10^6 bytes. Every
# process runs under `timeout`.
#
# Usage: bash bench/udp_goodput.sh [PEERLINK]. Prints figures and the
# ratios peerlink-udp / openssl-tls-chacha20 and peerlink-udp / iperf3;
# exits 1 when a run failed (a byte count differs, a process failed or
# timed out).
set -uo pipefail
PEERLINK=${1:-${PEERLINK:-build-bench/tools/peerlink/peerlink}}
MB=${PL_BENCH_MB:-1024}
ROUNDS=3
# generous: 30 s plus 5 s per 100 MiB (a 20 MB/s floor), per process
TO=${PL_BENCH_TIMEOUT:-$((30 + MB / 20))}
W=$(mktemp -d)
PIDS=()
cleanup() { # the processes still running that this script started
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$W"
}
# reap PID: waits for a background process ($? its status) and forgets it.
reap() {
    wait "$1"
    local rc=$? p keep=()
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
    return $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
    echo "udp_goodput: $*" >&2
    exit 1
}
for t in openssl iperf3 python3 timeout ss; do
    command -v "$t" >/dev/null || fail "$t not installed (bash scripts/setup.sh)"
done
[ -x "$PEERLINK" ] || fail "no peerlink tool at $PEERLINK"
bytes=$((MB * 1024 * 1024))
[ "$bytes" -gt 0 ] || fail "PL_BENCH_MB must be a positive number of MiB"

# feed BYTES TIMEFILE: BYTES zero bytes to stdout; TIMEFILE gets the clock
# just before the first write.
cat >"$W/feed.py" <<'EOF'
import os, sys, time
total, tfile = int(sys.argv[1]), sys.argv[2]
chunk = memoryview(bytes(1 << 20))
with open(tfile, "w") as f:
    f.write("%.6f\n" % time.clock_gettime(time.CLOCK_MONOTONIC))
left = total
try:
    while left:
        n = os.write(1, chunk[: min(left, len(chunk))])
        left -= n
except BrokenPipeError:
    sys.exit(1)
EOF
# count OUTFILE: reads stdin to its end; OUTFILE gets the byte count and the
# clock when the last byte arrived.
cat >"$W/count.py" <<'EOF'
import os, sys, time
buf = bytearray(1 << 20)  # reused: a fresh 1 MiB object per read halves the pace
n, last = 0, 0.0
while True:
    k = os.readv(0, [buf])
    if not k:
        break
    n += k
    last = time.clock_gettime(time.CLOCK_MONOTONIC)
with open(sys.argv[1], "w") as f:
    f.write("%d %.6f\n" % (n, last))
EOF

. "$(dirname "${BASH_SOURCE[0]}")/lib/helpers.sh"
wait_for() { # wait_for FILE TEXT
    for _ in $(seq 1 250); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.02
    done
    return 1
}
as() { # foreground only: in the background, $! would not be timeout's pid
    local who=$1
    shift
    XDG_CONFIG_HOME="$W/$who" timeout "$TO" "$PEERLINK" "$@"
}

# stock certificates (Ed25519, self-signed) and two peerlink nodes that
# trust each other
for n in c s; do
    openssl genpkey -algorithm ed25519 -out "$W/$n.key" 2>/dev/null || fail "genpkey"
    openssl req -x509 -new -key "$W/$n.key" -subj "/CN=$n" -days 3650 -out "$W/$n.pem" \
        2>/dev/null || fail "req"
done
for n in srv cli; do
    mkdir -p "$W/$n"
    as $n keygen >/dev/null 2>&1 || fail "keygen"
done
srv_fp=$(as srv id) || fail "id"
cli_fp=$(as cli id) || fail "id"
as srv trust add "$cli_fp" --name cli >/dev/null || fail "trust"
as cli trust add "$srv_fp" --name srv >/dev/null || fail "trust"

# s_server ends a session when its stdin ends: give it one that never does
mkfifo "$W/hold"
exec 7<>"$W/hold"

# start_counter: the receiving end's stdout goes to the fifo $W/rx, read by
# a counter (pid in $cpid) writing $W/count.
start_counter() {
    rm -f "$W/rx" "$W/count" "$W/t0"
    mkfifo "$W/rx"
    timeout "$TO" python3 "$W/count.py" "$W/count" <"$W/rx" &
    cpid=$!
    PIDS+=("$cpid")
}
# finish NAME RX_PID FEED_RC SEND_RC: waits for the receiver and the counter,
# checks every exit status and the byte count, prints MB/s.
finish() {
    local name=$1 rxpid=$2 frc=$3 src=$4 rrc crc
    reap "$rxpid"
    rrc=$?
    reap "$cpid"
    crc=$?
    [ "$frc" -eq 0 ] || fail "$name: the feeder failed (exit $frc)"
    [ "$src" -eq 0 ] || fail "$name: the sender failed (exit $src; 124 = timed out after ${TO}s)"
    [ "$rrc" -eq 0 ] || fail "$name: the receiver failed (exit $rrc; 124 = timed out after ${TO}s)"
    [ "$crc" -eq 0 ] || fail "$name: the counter failed (exit $crc)"
    local got t1 t0
    read -r got t1 <"$W/count" || fail "$name: no count"
    read -r t0 <"$W/t0" || fail "$name: no start time"
    [ "$got" = "$bytes" ] || fail "$name: $got of $bytes bytes arrived"
    awk -v b="$bytes" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.1f\n", b / (t1 - t0) / 1e6}'
}

run_pl_udp() {
    start_counter
    rm -f "$W/l.err" # (the last round's line must not be read, then truncated)
    XDG_CONFIG_HOME="$W/srv" timeout "$TO" "$PEERLINK" listen --udp 127.0.0.1:0 --once \
        </dev/null >"$W/rx" 2>"$W/l.err" &
    local lpid=$!
    PIDS+=("$lpid")
    wait_for "$W/l.err" "listening on .*:[0-9][0-9]* (udp)" ||
        fail "peerlink listen --udp did not start"
    local p
    p=$(sed -n 's/.*listening on .*:\([0-9]*\) (udp).*/\1/p' "$W/l.err")
    [ -n "$p" ] || fail "peerlink listen --udp printed no port"
    timeout "$TO" python3 "$W/feed.py" "$bytes" "$W/t0" |
        as cli connect --udp "127.0.0.1:$p" "$srv_fp" >/dev/null 2>"$W/c.err"
    local st=("${PIPESTATUS[@]}")
    finish "peerlink udp" "$lpid" "${st[0]}" "${st[1]}"
}

run_pl_tcp() {
    start_counter
    local p
    p=$(port)
    XDG_CONFIG_HOME="$W/srv" timeout "$TO" "$PEERLINK" listen --tcp "127.0.0.1:$p" --once \
        </dev/null >"$W/rx" 2>"$W/l.err" &
    local lpid=$!
    PIDS+=("$lpid")
    wait_listen "$p" || fail "peerlink listen --tcp did not start"
    timeout "$TO" python3 "$W/feed.py" "$bytes" "$W/t0" |
        as cli connect --tcp "127.0.0.1:$p" "$srv_fp" >/dev/null 2>"$W/c.err"
    local st=("${PIPESTATUS[@]}")
    finish "peerlink tcp" "$lpid" "${st[0]}" "${st[1]}"
}

CHACHA=TLS_CHACHA20_POLY1305_SHA256
run_tls() {
    start_counter
    local p
    p=$(port)
    timeout "$TO" openssl s_server -accept "127.0.0.1:$p" -cert "$W/s.pem" -key "$W/s.key" \
        -CAfile "$W/c.pem" -Verify 1 -verify_return_error -tls1_3 -quiet -naccept 1 \
        -ciphersuites "$CHACHA" <"$W/hold" >"$W/rx" 2>"$W/s.err" &
    local spid=$!
    PIDS+=("$spid")
    wait_listen "$p" || fail "openssl s_server did not start"
    timeout "$TO" python3 "$W/feed.py" "$bytes" "$W/t0" |
        timeout "$TO" openssl s_client -connect "127.0.0.1:$p" -cert "$W/c.pem" -key "$W/c.key" \
            -CAfile "$W/s.pem" -tls1_3 -quiet -no_ign_eof -ciphersuites "$CHACHA" \
            >/dev/null 2>"$W/c.err"
    local st=("${PIPESTATUS[@]}")
    finish "openssl tls" "$spid" "${st[0]}" "${st[1]}"
}

run_iperf3() {
    local p
    p=$(port)
    timeout "$TO" iperf3 -s -1 -B 127.0.0.1 -p "$p" >/dev/null 2>"$W/i.err" &
    local spid=$!
    PIDS+=("$spid")
    wait_listen "$p" || fail "iperf3 -s did not start"
    timeout "$TO" iperf3 -c 127.0.0.1 -p "$p" -n "$bytes" -J >"$W/iperf.json" 2>>"$W/i.err"
    local crc=$?
    reap "$spid"
    local src=$?
    [ "$crc" -eq 0 ] || fail "iperf3 -c failed (exit $crc): $(head -c 300 "$W/iperf.json")"
    [ "$src" -eq 0 ] || fail "iperf3 -s failed (exit $src)"
    # -n is met in whole 128 KiB blocks, so the sender may pass it by one;
    # the receiver stops counting when the client announces the end, with
    # the last few MB still in the socket
    python3 - "$W/iperf.json" "$bytes" <<'EOF' || fail "iperf3: a byte count differs or no result"
import json, sys
end, want = json.load(open(sys.argv[1]))["end"], int(sys.argv[2])
sent, rx = int(end["sum_sent"]["bytes"]), end["sum_received"]
if not want <= sent <= want + (1 << 20) or not 0.9 * want <= int(rx["bytes"]) <= sent:
    sys.stderr.write("udp_goodput: iperf3: %d of %d bytes sent, %d counted at the receiver\n"
                     % (sent, want, rx["bytes"]))
    sys.exit(1)
print("%.1f" % (rx["bits_per_second"] / 8 / 1e6))
EOF
}

# Each run in this shell (not in $(...)), so that its processes are in PIDS
# when a failure exits.
udp=()
tls=()
ipf=()
tcp=()
for r in $(seq 1 $ROUNDS); do
    run_pl_udp >"$W/v" || exit 1
    udp+=("$(cat "$W/v")")
    run_tls >"$W/v" || exit 1
    tls+=("$(cat "$W/v")")
    run_iperf3 >"$W/v" || exit 1
    ipf+=("$(cat "$W/v")")
    run_pl_tcp >"$W/v" || exit 1
    tcp+=("$(cat "$W/v")")
    echo "round $r: peerlink-udp ${udp[-1]}, openssl-tls-chacha20 ${tls[-1]}," \
        "iperf3 ${ipf[-1]}, peerlink-tcp ${tcp[-1]} MB/s" >&2
done
u=$(printf '%s\n' "${udp[@]}" | median)
o=$(printf '%s\n' "${tls[@]}" | median)
i=$(printf '%s\n' "${ipf[@]}" | median)
t=$(printf '%s\n' "${tcp[@]}" | median)
echo "bulk goodput over loopback, $MB MiB from a pipe, MB/s (median of $ROUNDS):"
row() { printf '  %-58s %s\n' "$1" "$2"; }
row "peerlink connect --udp -> listen --udp" "$u"
row "openssl s_client -> s_server, $CHACHA" "$o"
row "iperf3 TCP (receiver)" "$i"
row "peerlink connect --tcp -> listen --tcp" "$t"
row "ratio peerlink-udp / openssl-tls-chacha20" "$(ratio "$u" "$o")"
row "ratio peerlink-udp / iperf3" "$(ratio "$u" "$i")"
