#!/usr/bin/env bash
# udp_impair.sh - `peerlink listen --udp` and `peerlink connect --udp` over
# real sockets through the impairment relay ($IMPAIR, impair.c): the
# profiles of the QUIC interop runner, sized to run in well under a minute
# on loopback. For each profile a file of random bytes goes from connect to
# listen (fwd) and from listen to connect (rev) through the relay, and the
# sha256 at the far end must match; both tools must exit 0; and the relay's
# counters must show that the impairment happened (a profile that did not
# impair anything proves nothing). Sizes, seconds and MB/s, and the
# relay's counters, are printed as TAP comments.
#
#   clean       nothing impaired
#   loss2       2% of datagrams dropped, each way
#   corrupt2    2% of datagrams with one bit flipped, each way
#   dark        everything dropped 2 s in every 7 (from 0.5 s after the
#               relay starts), the sender paced so the transfer lasts > 3 s
#   delay200    200 ms one-way delay +/- 10 ms (uniform; it reorders a little)
#   reorderdup  5% held back 20 ms, 5% duplicated, each way
#   rebind      the client's mapping moves to a new port mid-transfer (NAT
#               rebinding): after half the file (fwd), or 0.8 s into a
#               transfer paced to last 2 s (rev)
#   rebindhs    ... during the handshake: after 1300 bytes from the client
#               (its HELLO and INITIATE), before the responder's ACCEPT
#
# Then the same across network namespaces A - R - B (veth pairs, two /24
# subnets, the relay in R the only path): clean, loss2 and rebind. Skipped
# when namespaces cannot be made. Every process runs under `timeout`; the
# trap removes processes, namespaces and the temporary directory.
. "$(dirname "${BASH_SOURCE[0]}")/../tool/tap.sh"

if [ -z "${IMPAIR:-}" ] || [ ! -x "$IMPAIR" ]; then
    echo "Bail out! \$IMPAIR is not the relay: '${IMPAIR:-}'"
    exit 1
fi
if ! command -v python3 >/dev/null || ! command -v timeout >/dev/null; then
    echo "1..0 # SKIP needs python3 and timeout"
    exit 0
fi

HERE="$(dirname "${BASH_SOURCE[0]}")"
PACE="$HERE/pace.py"
T_XFER=40 # seconds any one transfer may take
MB=1000000
SEED=${IMPAIR_SEED:-1} # the relay's choices: the same each run unless asked
# --verbose: the tools' own view (window, RTT, losses) goes into the report;
# UDP_IMPAIR_CC=cubic tries the other congestion controller.
TOOL_OPTS=(--verbose)
[ -n "${UDP_IMPAIR_CC:-}" ] && TOOL_OPTS+=(--cc "$UDP_IMPAIR_CC")

# UDP_IMPAIR_PROFILES="loss2 rebind" runs only those on loopback;
# UDP_IMPAIR_NETNS=0 skips the namespaces.
# shellcheck disable=SC2206
LOOP_PROFILES=(${UDP_IMPAIR_PROFILES:-clean loss2 corrupt2 dark delay200 reorderdup rebind rebindhs})
NETNS_XFERS=4 # clean both ways, loss2 and rebind forward
plan $((2 * ${#LOOP_PROFILES[@]} + 1 + NETNS_XFERS))

PIDS=()
NETNS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    wait 2>/dev/null
    for p in "${NETNS[@]}"; do
        ip netns del "$p" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

kv() { sed -n "s/^$2=//p" "$1" 2>/dev/null | head -n 1; }
now() { date +%s.%N; }

node a
node b
XDG_CONFIG_HOME="$WORK/a" "$PEERLINK" trust add "$b_fp" --name b >/dev/null || exit 1
XDG_CONFIG_HOME="$WORK/b" "$PEERLINK" trust add "$a_fp" --name a >/dev/null || exit 1

# One file per size, made on first use.
data_file() {
    local f="$WORK/data.$1"
    [ -f "$f" ] || head -c "$1" /dev/urandom >"$f"
    echo "$f"
}

# Where things run: loopback, or namespaces (set by the netns part).
NS_A= NS_R= NS_B=
ADDR_A=127.0.0.1 ADDR_R=127.0.0.1 ADDR_B=127.0.0.1
# inns NS CMD...: CMD in namespace NS (here when NS is empty). In a
# background job it replaces the job's subshell, so that $! is the
# command's process and a signal to $! reaches it.
inns() {
    local ns=$1
    shift
    local cmd=("$@")
    [ -n "$ns" ] && cmd=(ip netns exec "$ns" "$@")
    [ "$BASHPID" != "$$" ] && exec "${cmd[@]}"
    "${cmd[@]}"
}

# profile NAME DIR SIZE: sets P_ARGS (relay options), P_SIZE (bytes),
# P_RATE (bytes/s for a paced sender, 0 for none), P_EVIDENCE (an
# expression on the relay's stats, $st, that shows the impairment happened).
profile() {
    P_RATE=0
    P_SIZE=$((20 * MB))
    P_EVIDENCE='true'
    case $1 in
    clean) P_ARGS=() ;;
    loss2)
        P_ARGS=(--loss 0.02)
        P_EVIDENCE='[ "$(kv $st up.lost)" -gt 0 ] && [ "$(kv $st down.lost)" -gt 0 ]'
        ;;
    corrupt2)
        P_ARGS=(--corrupt 0.02)
        P_EVIDENCE='[ "$(kv $st up.corrupted)" -gt 0 ] && [ "$(kv $st down.corrupted)" -gt 0 ]'
        ;;
    dark)
        P_ARGS=(--dark-period-ms 7000 --dark-ms 2000)
        P_SIZE=$((12 * MB))
        P_RATE=$((4 * MB))
        P_EVIDENCE='[ $(($(kv $st up.dark_dropped) + $(kv $st down.dark_dropped))) -gt 0 ] &&
            awk -v s=$secs "BEGIN { exit !(s > 3) }"'
        ;;
    delay200)
        P_ARGS=(--delay-ms 200 --jitter-ms 10)
        P_SIZE=$((3 * MB / 2))
        P_EVIDENCE='awk -v s=$secs "BEGIN { exit !(s > 0.8) }"' # a handshake and more
        ;;
    reorderdup)
        P_ARGS=(--reorder 0.05 --reorder-ms 20 --dup 0.05)
        P_SIZE=$((10 * MB))
        P_EVIDENCE='[ "$(kv $st up.reordered)" -gt 0 ] && [ "$(kv $st up.duplicated)" -gt 0 ] &&
            [ "$(kv $st down.reordered)" -gt 0 ] && [ "$(kv $st down.duplicated)" -gt 0 ]'
        ;;
    rebind)
        if [ "$2" = fwd ]; then
            P_ARGS=(--rebind-after-bytes $((P_SIZE / 2)))
        else
            # client -> upstream carries only acknowledgements, whose
            # number the transport may change: a paced sender and a time
            P_ARGS=(--rebind-at-ms 800)
            P_SIZE=$((10 * MB))
            P_RATE=$((5 * MB))
        fi
        # the relay says how far the transfer had got: data bytes before the
        # move (up for fwd, down for rev) strictly between 0 and the size
        P_EVIDENCE='[ "$(kv $st rebinds)" = 1 ] && rebind_mid "$dir" $P_SIZE'
        ;;
    rebindhs)
        P_ARGS=(--rebind-after-bytes 1300)
        P_SIZE=$((5 * MB))
        P_EVIDENCE='[ "$(kv $st rebinds)" = 1 ] && rebind_before_data'
        ;;
    *)
        echo "Bail out! no profile '$1'"
        exit 1
        ;;
    esac
}

# rebind_mid DIR SIZE: the relay's rebinding came after some and before all
# of the data
rebind_mid() {
    local up down moved
    read -r up down < <(sed -n 's/.*after \([0-9]*\) bytes up and \([0-9]*\) down.*/\1 \2/p' \
        "$WORK/r.err")
    moved=$up
    [ "$1" = rev ] && moved=$down
    [ -n "$moved" ] && [ "$moved" -gt 0 ] && [ "$moved" -lt "$2" ]
}

# rebind_before_data: the rebinding came before any data (the handshake
# and its acknowledgements are a few kB at most)
rebind_before_data() {
    local up down
    read -r up down < <(sed -n 's/.*after \([0-9]*\) bytes up and \([0-9]*\) down.*/\1 \2/p' \
        "$WORK/r.err")
    [ -n "$up" ] && [ "$up" -lt 4000 ] && [ "$down" -lt 4000 ]
}

# sender_input FILE: sets $input to what the sending tool reads: FILE, or
# a pipe that a paced writer fills ($P_RATE)
sender_input() {
    input=$1
    [ "$P_RATE" -eq 0 ] && return
    input=$WORK/pace.fifo
    rm -f "$input"
    mkfifo "$input"
    timeout $T_XFER python3 "$PACE" "$P_RATE" "$1" >"$input" &
    PIDS+=($!)
}

# xfer WHERE PROFILE DIR: one transfer through a fresh relay; one TAP line.
xfer() {
    local where=$1 name=$2 dir=$3 file lin=/dev/null cin=/dev/null lpid rpid lport rport
    local t0 t1 crc lrc rrc got want input st="$WORK/r.stats"
    profile "$name" "$dir"
    file=$(data_file $P_SIZE)
    rm -f "$WORK"/l.* "$WORK"/c.* "$WORK"/r.*
    if [ "$dir" = fwd ]; then
        want=$WORK/l.out
    else
        want=$WORK/c.out
        sender_input "$file"
        lin=$input
    fi
    inns "$NS_B" env XDG_CONFIG_HOME="$WORK/b" timeout $T_XFER "$PEERLINK" listen \
        --udp "$ADDR_B:0" --once "${TOOL_OPTS[@]}" <"$lin" >"$WORK/l.out" 2>"$WORK/l.err" &
    lpid=$!
    PIDS+=($lpid)
    wait_for "$WORK/l.err" "listening on"
    lport=$(sed -n 's/.*listening on .*:\([0-9]*\) (udp).*/\1/p' "$WORK/l.err")
    inns "$NS_R" timeout -k 5 $((T_XFER + 5)) "$IMPAIR" --listen "$ADDR_R:0" \
        --upstream "$ADDR_B:$lport" --stats-file "$st" --seed "$SEED" "${P_ARGS[@]}" 2>"$WORK/r.err" &
    rpid=$!
    PIDS+=($rpid)
    wait_for "$WORK/r.err" "listening on"
    rport=$(sed -n 's/.*listening on .*:\([0-9]*\), upstream.*/\1/p' "$WORK/r.err")
    if [ "$dir" = fwd ]; then
        sender_input "$file"
        cin=$input
    fi
    t0=$(now)
    inns "$NS_A" env XDG_CONFIG_HOME="$WORK/a" timeout $T_XFER "$PEERLINK" connect \
        --udp "$ADDR_R:$rport" "${TOOL_OPTS[@]}" "$b_fp" <"$cin" >"$WORK/c.out" 2>"$WORK/c.err"
    crc=$?
    wait $lpid
    lrc=$?
    t1=$(now)
    kill -TERM $rpid 2>/dev/null
    wait $rpid
    rrc=$?
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    got=$(stat -c %s "$want" 2>/dev/null || echo 0)
    local mbs size_mb
    mbs=$(awk -v n="$got" -v s="$secs" 'BEGIN { printf "%.2f", (s > 0 ? n / s / 1e6 : 0) }')
    size_mb=$(awk -v n=$P_SIZE 'BEGIN { printf "%g", n / 1e6 }')
    local arrow="connect -> listen"
    [ "$dir" = rev ] && arrow="listen -> connect"
    diag "$where $name $dir: $size_mb MB $arrow, $got bytes arrived in $secs s = $mbs MB/s" \
        "  connect exit $crc, listen exit $lrc, relay exit $rrc; relay ${P_ARGS[*]:-(no impairment)}" \
        "  up:   $(stats_line up) rebinds $(kv $st rebinds)" "  down: $(stats_line down)" \
        "  connect $(end_line "$WORK/c.err")" "  listen  $(end_line "$WORK/l.err")"
    rc=$crc out= err=$(cat "$WORK/c.err" "$WORK/l.err" "$WORK/r.err" 2>/dev/null |
        grep -v '=\|^peerlink: [0-9.]* s ')
    check "$where $name $dir: $size_mb MB $arrow intact (sha256), both exit 0, impairment seen" \
        '[ $crc -eq 0 ] && [ $lrc -eq 0 ] && [ $rrc -eq 0 ] && [ "$(sha "$want")" = "$(sha "$file")" ] &&
         eval "$P_EVIDENCE"'
}

# end_line ERRFILE: the tool's --verbose summary of the connection
end_line() {
    sed -n 's/^peerlink: end [^ ]* //p' "$1" | head -n 1
}

stats_line() {
    local d=$1 st="$WORK/r.stats" k line=
    for k in received forwarded lost corrupted duplicated reordered dark_dropped send_dropped \
        kernel_dropped; do
        line+="$k $(kv "$st" "$d.$k"), "
    done
    echo "${line%, }"
}

# ---- loopback
for p in "${LOOP_PROFILES[@]}"; do
    xfer loopback "$p" fwd
    xfer loopback "$p" rev
done

# ---- network namespaces: A (connect) - R (relay) - B (listen)
S=$$
NS_A=plA$S NS_R=plR$S NS_B=plB$S
netns_up() {
    local ns
    for ns in $NS_A $NS_R $NS_B; do
        ip netns add "$ns" 2>/dev/null || return 1
        NETNS+=("$ns")
        ip -n "$ns" link set lo up || return 1
    done
    ip link add "pa$S" netns "$NS_A" type veth peer name "pra$S" netns "$NS_R" &&
        ip link add "prb$S" netns "$NS_R" type veth peer name "pb$S" netns "$NS_B" &&
        ip -n "$NS_A" addr add 10.201.1.2/24 dev "pa$S" &&
        ip -n "$NS_R" addr add 10.201.1.1/24 dev "pra$S" &&
        ip -n "$NS_R" addr add 10.201.2.1/24 dev "prb$S" &&
        ip -n "$NS_B" addr add 10.201.2.2/24 dev "pb$S" &&
        ip -n "$NS_A" link set "pa$S" up && ip -n "$NS_R" link set "pra$S" up &&
        ip -n "$NS_R" link set "prb$S" up && ip -n "$NS_B" link set "pb$S" up &&
        ip -n "$NS_A" route add default via 10.201.1.1 &&
        ip -n "$NS_B" route add default via 10.201.2.1
}
if [ "${UDP_IMPAIR_NETNS:-1}" = 0 ]; then
    echo "not wanted (UDP_IMPAIR_NETNS=0)" >"$WORK/netns.err"
    netns_ok=0
elif netns_up 2>"$WORK/netns.err"; then
    netns_ok=1
else
    netns_ok=0
fi
if [ $netns_ok = 1 ]; then
    ADDR_A=10.201.1.2 ADDR_R=10.201.1.1 ADDR_B=10.201.2.2
    # R does not forward: the relay is the only way from A to B. A
    # datagram sent straight from A to B must not arrive.
    inns "$NS_B" timeout 10 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9))
print("bound", flush=True)
s.settimeout(1.5)
try:
    s.recv(64)
    print("reached")
except socket.timeout:
    print("silent")' "$ADDR_B" >"$WORK/reach" 2>&1 &
    PIDS+=($!)
    wait_for "$WORK/reach" bound
    for i in 1 2 3; do
        inns "$NS_A" timeout 5 bash -c "echo x >/dev/udp/$ADDR_B/9" 2>/dev/null
    done
    wait "${PIDS[-1]}"
    out=$(cat "$WORK/reach") rc=0 err=
    check "netns: a datagram from A straight to B does not arrive (only the relay joins them)" \
        '[[ $out == *silent* ]]'
    xfer netns clean fwd
    xfer netns clean rev
    xfer netns loss2 fwd
    xfer netns rebind fwd
else
    diag "netns: $(cat "$WORK/netns.err")"
    skip "netns: a datagram from A straight to B does not arrive (only the relay joins them)" "$(head -n 1 "$WORK/netns.err")"
    for i in $(seq 1 $NETNS_XFERS); do
        skip "netns transfer $i" "$(head -n 1 "$WORK/netns.err")"
    done
fi

finish
