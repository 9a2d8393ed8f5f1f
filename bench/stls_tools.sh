#!/usr/bin/env bash
# stls_tools.sh - the `peerlink` tool against stock `openssl` processes over
# loopback, measured in the same run (bench_stls.c has the in-process
# figures):
#
#   1. Mutual-auth TLS 1.3 handshakes per second: `openssl s_time -new`
#      (presenting an Ed25519 client certificate) against `openssl s_server
#      -Verify 1` (which requires and checks it) and against `peerlink
#      listen --server-only` (which checks its fingerprint against the trust
#      store). Each server runs in one process on one core; the figure is
#      connections per wall-clock second as s_time reports them.
#   2. Bulk throughput through stdin/stdout: PL_BENCH_MB (default 512) MiB
#      from a pipe, `openssl s_client | ... | openssl s_server` vs `peerlink
#      connect | ... | peerlink listen`, both TLS_AES_256_GCM_SHA384 (the
#      cipher suite OpenSSL, and so peerlink, picks first on this machine);
#      time from the first byte written to the last byte counted at the far
#      end.
#
# Usage: bash bench/stls_tools.sh [PEERLINK]. Prints figures; exits 1 when
# a run failed (a byte count differs, a process failed).
set -uo pipefail
PEERLINK=${1:-${PEERLINK:-build-bench/tools/peerlink/peerlink}}
SECONDS_PER=${PL_BENCH_SECONDS:-4}
MB=${PL_BENCH_MB:-512}
ROUNDS=3
W=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
fail() {
    echo "stls_tools: $*" >&2
    exit 1
}
command -v openssl >/dev/null || fail "openssl not installed"
[ -x "$PEERLINK" ] || fail "no peerlink tool at $PEERLINK"

. "$(dirname "${BASH_SOURCE[0]}")/lib/helpers.sh"

# stock certificates (Ed25519, self-signed) and two peerlink nodes
for n in c s; do
    openssl genpkey -algorithm ed25519 -out "$W/$n.key" 2>/dev/null || fail "genpkey"
    openssl req -x509 -new -key "$W/$n.key" -subj "/CN=$n" -days 3650 -out "$W/$n.pem" \
        2>/dev/null || fail "req"
done
as() {
    local who=$1
    shift
    XDG_CONFIG_HOME="$W/$who" "$PEERLINK" "$@"
}
for n in srv cli; do
    mkdir -p "$W/$n"
    as $n keygen >/dev/null 2>&1 || fail "keygen"
done
srv_fp=$(as srv id)
cli_fp=$(as cli id)
as srv trust add "$(fp_of_key "$W/c.key")" --name stock-client >/dev/null || fail "trust"
as srv trust add "$cli_fp" --name cli >/dev/null || fail "trust"

# ---- 1. handshakes per second
s_time() { # s_time PORT: connections per real second
    openssl s_time -connect "127.0.0.1:$1" -new -tls1_3 -cert "$W/c.pem" -key "$W/c.key" \
        -time "$SECONDS_PER" 2>/dev/null |
        sed -n 's/^\([0-9]*\) connections in \([0-9]*\) real seconds.*/\1 \2/p' |
        awk '{ if ($2 > 0) printf "%.1f\n", $1 / $2 }'
}
hs_ossl=()
hs_pl=()
for r in $(seq 1 $ROUNDS); do
    p=$(port)
    openssl s_server -accept "127.0.0.1:$p" -cert "$W/s.pem" -key "$W/s.key" -CAfile "$W/c.pem" \
        -Verify 1 -verify_return_error -tls1_3 -quiet </dev/null >/dev/null 2>&1 &
    PIDS+=($!)
    wait_listen "$p" || fail "s_server did not start"
    hs_ossl+=("$(s_time "$p")")
    kill $! 2>/dev/null
    p=$(port)
    as srv listen --tcp "127.0.0.1:$p" --server-only </dev/null >/dev/null 2>"$W/l.err" &
    PIDS+=($!)
    wait_listen "$p" || fail "peerlink listen did not start"
    hs_pl+=("$(s_time "$p")")
    kill $! 2>/dev/null
    # every connection was authenticated (then declined: stdin is spent)
    grep -q "connected to" "$W/l.err" || fail "peerlink listen authenticated nobody"
done
o=$(printf '%s\n' "${hs_ossl[@]}" | median)
p=$(printf '%s\n' "${hs_pl[@]}" | median)
echo "mutual-auth handshakes/s, s_time -new against the server (median of $ROUNDS x ${SECONDS_PER}s):"
echo "  openssl s_server -Verify 1     $o"
echo "  peerlink listen --server-only  $p"
echo "  ratio peerlink/openssl         $(ratio "$p" "$o")"

# ---- 2. bulk throughput through the tools
bytes=$((MB * 1024 * 1024))
# s_server ends a session when its stdin ends: give it one that never does
mkfifo "$W/hold"
exec 7<>"$W/hold"
now() { date +%s.%N; }
bulk_ossl() {
    local p
    p=$(port)
    openssl s_server -accept "127.0.0.1:$p" -cert "$W/s.pem" -key "$W/s.key" -CAfile "$W/c.pem" \
        -Verify 1 -verify_return_error -tls1_3 -quiet -naccept 1 \
        -ciphersuites TLS_AES_256_GCM_SHA384 <"$W/hold" 2>/dev/null | wc -c >"$W/count" &
    local spid=$!
    wait_listen "$p" || fail "s_server did not start"
    local t0
    t0=$(now)
    head -c "$bytes" /dev/zero | openssl s_client -connect "127.0.0.1:$p" -cert "$W/c.pem" \
        -key "$W/c.key" -CAfile "$W/s.pem" -tls1_3 -quiet -no_ign_eof \
        -ciphersuites TLS_AES_256_GCM_SHA384 >/dev/null 2>&1
    wait $spid
    local t1
    t1=$(now)
    [ "$(cat "$W/count")" = "$bytes" ] || fail "openssl: $(cat "$W/count") of $bytes bytes arrived"
    awk -v b="$bytes" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.1f\n", b / (t1 - t0) / 1e6}'
}
bulk_pl() {
    local p
    p=$(port)
    as srv listen --tcp "127.0.0.1:$p" --once </dev/null 2>/dev/null | wc -c >"$W/count" &
    local spid=$!
    wait_listen "$p" || fail "peerlink listen did not start"
    local t0
    t0=$(now)
    head -c "$bytes" /dev/zero | as cli connect --tcp "127.0.0.1:$p" "$srv_fp" >/dev/null 2>&1
    wait $spid
    local t1
    t1=$(now)
    [ "$(cat "$W/count")" = "$bytes" ] || fail "peerlink: $(cat "$W/count") of $bytes bytes arrived"
    awk -v b="$bytes" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.1f\n", b / (t1 - t0) / 1e6}'
}
bo=()
bp=()
for r in $(seq 1 $ROUNDS); do
    bo+=("$(bulk_ossl)") || exit 1
    bp+=("$(bulk_pl)") || exit 1
done
o=$(printf '%s\n' "${bo[@]}" | median)
p=$(printf '%s\n' "${bp[@]}" | median)
echo "bulk MB/s through stdin/stdout, $MB MiB, TLS_AES_256_GCM_SHA384 (median of $ROUNDS):"
echo "  openssl s_client -> s_server   $o"
echo "  peerlink connect -> listen     $p"
echo "  ratio peerlink/openssl         $(ratio "$p" "$o")"
