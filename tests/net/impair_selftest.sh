#!/usr/bin/env bash
# impair_selftest.sh - the impairment relay ($IMPAIR, impair.c) checked on
# its own, between a python3 UDP echo server and client on loopback
# (impair_udp.py): bad arguments; nothing impaired (2000 datagrams back
# byte-identical, in order, counted in the stats file written on SIGTERM);
# loss, corruption, duplication and reordering at plausible rates; delay
# (the round trip grows by twice the one-way delay); a rebinding (the echo
# server sees the client move to a second port and keeps answering); a dark
# window (a run of datagrams with no answer, as long as the window); two
# clients with a port each; IPv6; the same seed makes the same choices.
# Each case has its own relay and echo server; every process runs under
# `timeout` and the trap removes them and the temporary directory.
set -u

if [ -z "${IMPAIR:-}" ] || [ ! -x "$IMPAIR" ]; then
    echo "Bail out! \$IMPAIR is not the relay: '${IMPAIR:-}'"
    exit 1
fi
if ! command -v python3 >/dev/null || ! command -v timeout >/dev/null; then
    echo "1..0 # SKIP needs python3 and timeout"
    exit 0
fi

UDP="$(dirname "${BASH_SOURCE[0]}")/impair_udp.py"
T_COUNT=0
T_FAILED=0
PIDS=()
W=$(mktemp -d "${TMPDIR:-/tmp}/peerlink-impair-test.XXXXXX") || exit 1
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT

diag() {
    printf '%s\n' "$@" | sed 's/^/# /'
}

# check DESC EXPR [FILE...]: on failure the files are shown as diagnostics.
check() {
    local desc=$1 expr=$2 f
    shift 2
    T_COUNT=$((T_COUNT + 1))
    if eval "$expr"; then
        echo "ok $T_COUNT - $desc"
    else
        echo "not ok $T_COUNT - $desc"
        T_FAILED=$((T_FAILED + 1))
        diag "failed: $expr"
        for f in "$@"; do
            [ -f "$f" ] && diag "--- ${f##*/}:" "$(cat "$f")"
        done
    fi
}

wait_file() { # wait_file FILE [PATTERN]: up to 5 s
    local i
    for i in $(seq 1 100); do
        grep -q "${2:-.}" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# kv FILE KEY: the value of KEY= in FILE (empty when absent)
kv() {
    sed -n "s/^$2=//p" "$1" 2>/dev/null | head -n 1
}

# start ADDR IMPAIR-ARGS...: an echo server on ADDR and a relay in front of
# it on ADDR; sets $rport (the relay's port) and $echo_pid, $relay_pid.
# Files: $W/esum (echo summary), $W/stats, $W/relay.err.
start() {
    local addr=$1 host
    shift
    rm -f "$W/eport" "$W/esum" "$W/stats" "$W/relay.err"
    timeout 60 python3 "$UDP" echo "$addr" "$W/eport" "$W/esum" &
    echo_pid=$!
    PIDS+=("$echo_pid")
    wait_file "$W/eport" || {
        rport=
        return 1
    }
    host=$addr
    [[ $addr == *:* ]] && host="[$addr]"
    timeout -k 5 60 "$IMPAIR" --listen "$host:0" --upstream "$host:$(cat "$W/eport")" \
        --stats-file "$W/stats" "$@" 2>"$W/relay.err" &
    relay_pid=$!
    PIDS+=("$relay_pid")
    wait_file "$W/relay.err" "listening on"
    rport=$(sed -n 's/.*listening on .*:\([0-9]*\), upstream.*/\1/p' "$W/relay.err")
}

# stop: SIGTERM to both; sets $relay_rc.
stop() {
    kill -TERM "$relay_pid" 2>/dev/null
    wait "$relay_pid"
    relay_rc=$?
    kill -TERM "$echo_pid" 2>/dev/null
    wait "$echo_pid" 2>/dev/null
    wait_file "$W/esum" || true
}

# client ADDR COUNT INTERVAL_MS [SIZE]: the client's summary in $W/client
client() {
    timeout 30 python3 "$UDP" client "$1" "$rport" "${@:2}" >"$W/client" 2>&1
}

# c KEY: a value from the client's summary; s KEY: from the relay's stats
c() { kv "$W/client" "$1"; }
s() { kv "$W/stats" "$1"; }
# between X LO HI: LO <= X <= HI for decimals (awk)
between() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x != "" && x >= lo && x <= hi) }'; }

echo "1..13"

# ---- 1: bad arguments
bad=0
for args in "--upstream 127.0.0.1:9" "--listen 127.0.0.1:0 --upstream 127.0.0.1:0" \
    "--listen localhost:1 --upstream 127.0.0.1:9" "--listen 127.0.0.1:0 --upstream 127.0.0.1:9 --loss 1.5" \
    "--listen 127.0.0.1:0 --upstream 127.0.0.1:9 --reorder 0.1" \
    "--listen 127.0.0.1:0 --upstream 127.0.0.1:9 --delay-ms 10 --jitter-ms 20" \
    "--listen 127.0.0.1:0 --upstream 127.0.0.1:9 --dark-ms 10" \
    "--listen 127.0.0.1:0 --upstream 127.0.0.1:9 --delay-ms x" "--bogus"; do
    # shellcheck disable=SC2086
    timeout 5 "$IMPAIR" $args >/dev/null 2>"$W/bad.err"
    rc=$?
    if [ $rc -ne 2 ] || ! grep -q "^impair: " "$W/bad.err"; then
        diag "impair $args: exit $rc" "$(cat "$W/bad.err")"
        bad=$((bad + 1))
    fi
done
check "bad arguments: exit 2 with a message (9 cases)" '[ $bad -eq 0 ]'

# ---- 2, 3: nothing impaired
start 127.0.0.1
client 127.0.0.1 2000 0.5
stop
check "no impairment: 2000 datagrams back byte-identical, in order, once each" \
    '[ "$(c intact)" = 2000 ] && [ "$(c replies)" = 2000 ] && [ "$(c ooo)" = 0 ]' "$W/client"
check "SIGTERM: exit 0, stats file and stderr count 2000 each way" \
    '[ $relay_rc -eq 0 ] && [ "$(s up.received)" = 2000 ] && [ "$(s up.forwarded)" = 2000 ] &&
     [ "$(s down.forwarded)" = 2000 ] && [ "$(s clients)" = 1 ] &&
     [ "$(s up.kernel_dropped)" = 0 ] && [ "$(s down.kernel_dropped)" = 0 ] &&
     grep -q "^down.forwarded=2000$" "$W/relay.err"' "$W/stats" "$W/relay.err"

# ---- 4: loss 0.1 each way: a round trip survives with 0.81
start 127.0.0.1 --loss 0.1 --seed 7
client 127.0.0.1 2000 0.5
stop
lost_pct=$(awk -v u="$(c unique)" 'BEGIN { printf "%.1f", 100 * (2000 - u) / 2000 }')
diag "loss 0.1: round-trip loss ${lost_pct}% (expected 19%); up.lost $(s up.lost), down.lost $(s down.lost)"
check "--loss 0.1: round-trip loss ${lost_pct}% in [14, 24], each way's lost/received in [0.07, 0.13]" \
    'between "$lost_pct" 14 24 && [ "$(c differ)" = 0 ] &&
     between "$(awk -v l="$(s up.lost)" -v r="$(s up.received)" "BEGIN { print l / r }")" 0.07 0.13 &&
     between "$(awk -v l="$(s down.lost)" -v r="$(s down.received)" "BEGIN { print l / r }")" 0.07 0.13' \
    "$W/client" "$W/stats"

# ---- 5: corruption
start 127.0.0.1 --corrupt 0.05
client 127.0.0.1 1000 0.5
stop
diag "corrupt 0.05: $(c differ) of $(c replies) replies differ ($(c onebit) by one or two bits);" \
    "up.corrupted $(s up.corrupted), down.corrupted $(s down.corrupted)"
check "--corrupt 0.05: none lost; 40..160 of 1000 differ, each by a flipped bit or two" \
    '[ "$(c replies)" = 1000 ] && between "$(c differ)" 40 160 && [ "$(c onebit)" = "$(c differ)" ] &&
     [ $(($(s up.corrupted) + $(s down.corrupted))) -ge "$(c differ)" ]' "$W/client" "$W/stats"

# ---- 6: duplication: each way 0.1, so 1.21 echoes per datagram
start 127.0.0.1 --dup 0.1
client 127.0.0.1 1000 0.5
stop
diag "dup 0.1: $(c dups) duplicates over 1000 datagrams (expected 210)"
check "--dup 0.1: all back, 120..320 duplicates, relay counts match" \
    '[ "$(c unique)" = 1000 ] && between "$(c dups)" 120 320 &&
     [ "$(c replies)" = $((1000 + $(c dups))) ] &&
     [ "$(s down.forwarded)" = $(($(s down.received) + $(s down.duplicated))) ]' "$W/client" "$W/stats"

# ---- 7: reordering
start 127.0.0.1 --reorder 0.1 --reorder-ms 20
client 127.0.0.1 1000 1
stop
diag "reorder 0.1/20 ms: $(c ooo) echoes arrived after a later one; up.reordered $(s up.reordered)"
check "--reorder 0.1 --reorder-ms 20: all back intact, some out of order" \
    '[ "$(c intact)" = 1000 ] && [ "$(c unique)" = 1000 ] && [ "$(c ooo)" -ge 20 ] &&
     [ "$(s up.reordered)" -ge 50 ]' "$W/client" "$W/stats"

# ---- 8: delay
start 127.0.0.1 --delay-ms 100 --jitter-ms 5
client 127.0.0.1 100 10
stop
diag "delay 100 +/- 5 ms: median RTT $(c rtt_med_ms) ms, max $(c rtt_max_ms) ms"
check "--delay-ms 100 --jitter-ms 5: all back; median RTT $(c rtt_med_ms) ms in [190, 260]" \
    '[ "$(c unique)" = 100 ] && between "$(c rtt_med_ms)" 190 260' "$W/client"

# ---- 9: rebinding
start 127.0.0.1 --rebind-at-ms 500
client 127.0.0.1 300 5
stop
diag "rebind at 500 ms: echo server saw ports $(kv "$W/esum" ports); $(c unique) of 300 back"
check "--rebind-at-ms 500: the echo server sees a second source port; echoes keep coming" \
    '[ "$(kv "$W/esum" ports | tr , "\n" | wc -l)" = 2 ] && [ "$(s rebinds)" = 1 ] &&
     [ "$(c late_ok)" -ge 145 ] && [ "$(c unique)" -ge 295 ]' "$W/client" "$W/esum" "$W/stats"

# ---- 10: a dark window: 500..900 ms after start, then every second
start 127.0.0.1 --dark-period-ms 1000 --dark-ms 400
client 127.0.0.1 400 5
stop
diag "dark 400 ms in 1000: longest run without echoes $(c gap_ms) ms; $(c unique) of 400 back;" \
    "dark-dropped up $(s up.dark_dropped), down $(s down.dark_dropped)"
check "--dark-ms 400: a run of $(c gap_ms) ms with no echoes (in [300, 600]); the rest come back" \
    'between "$(c gap_ms)" 300 600 && between "$(c unique)" 200 330 && [ "$(s up.dark_dropped)" -gt 0 ]' \
    "$W/client" "$W/stats"

# ---- 11: two clients, a mapping each
start 127.0.0.1
client 127.0.0.1 200 1 &
cpid=$!
timeout 30 python3 "$UDP" client 127.0.0.1 "$rport" 200 1 >"$W/client2" 2>&1
wait $cpid
stop
check "two clients: each gets its own 200 echoes; the echo server sees two ports" \
    '[ "$(c intact)" = 200 ] && [ "$(kv "$W/client2" intact)" = 200 ] &&
     [ "$(kv "$W/esum" ports | tr , "\n" | wc -l)" = 2 ] && [ "$(s clients)" = 2 ]' \
    "$W/client" "$W/client2" "$W/esum"

# ---- 12: IPv6
if python3 -c 'import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))' \
    2>/dev/null; then
    start ::1 --delay-ms 5
    client ::1 200 1
    stop
    check "IPv6 ([::1]) with a 5 ms delay: 200 datagrams back intact" \
        '[ "$(c intact)" = 200 ]' "$W/client" "$W/relay.err"
else
    T_COUNT=$((T_COUNT + 1))
    echo "ok $T_COUNT - IPv6 # SKIP no IPv6 loopback"
fi

# ---- 13: the same seed makes the same choices (the echo server sees the
# same datagrams in the same order), another seed others
for seed in 5 5 6; do
    start 127.0.0.1 --loss 0.3 --seed "$seed"
    client 127.0.0.1 300 1
    stop
    echo "$(kv "$W/esum" seqs) $(s up.lost)" >>"$W/seeds"
done
mapfile -t runs <"$W/seeds"
check "--seed: two runs with seed 5 drop the same datagrams, seed 6 others" \
    '[ "${runs[0]}" = "${runs[1]}" ] && [ "${runs[0]}" != "${runs[2]}" ]' "$W/seeds"

[ "$T_FAILED" -eq 0 ]
