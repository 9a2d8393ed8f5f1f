#!/usr/bin/env bash
# udp.sh - `peerlink listen/connect/ping --udp`: the datagram transport over
# real loopback sockets (IPv4 and IPv6). Data both ways (sha256 compared at
# the far end), --exec echoing through pipes, ping (handshake time, RTTs,
# loss) against a listener that keeps serving its stream, refusals (an
# untrusted peer is told so at once), nobody listening and a wrong
# fingerprint (no answer, within the handshake timeout). Every process runs
# under `timeout`; each node has its own config home under $WORK.
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

plan 31

PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

as() {
    local who=$1
    shift
    XDG_CONFIG_HOME="$WORK/$who" timeout 20 "$PEERLINK" "$@"
}
# listen_port ERRFILE: the port a UDP listener printed.
listen_port() {
    # (the whole line: a slow listener's stderr may be read mid-line)
    wait_for "$1" "listening on .*:[0-9][0-9]* (udp)" &&
        sed -n 's/.*listening on .*:\([0-9]*\) (udp).*/\1/p' "$1"
}
# free_udp_port: a loopback UDP port nobody listens on (bound, then closed).
free_udp_port() {
    python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

node alice
node bob
node carol
as alice trust add "$bob_fp" --name bob >/dev/null
as bob trust add "$alice_fp" --name alice >/dev/null
head -c 3000000 /dev/urandom >"$WORK/big"
head -c 1000000 /dev/urandom >"$WORK/big2"

# ---- help and usage
run listen --help
check "listen --help mentions --udp" '[ $rc -eq 0 ] && [[ $out == *"--udp ADDR:PORT"* ]]'
run ping --help
check "ping --help (exit 0) shows --udp, -c and -i" \
    '[ $rc -eq 0 ] && [[ $out == *"--udp HOST:PORT"* && $out == *"--count"* && $out == *"--interval"* ]]'
run connect --udp 127.0.0.1:7
check "connect --udp without a fingerprint: exit 2" '[ $rc -eq 2 ] && [[ $err == *"fingerprint"* ]]'
run connect --udp 127.0.0.1:7 --tcp 127.0.0.1:7 "$alice_fp"
check "--udp with --tcp: exit 2" '[ $rc -eq 2 ] && [[ $err == *"--tcp"* ]]'
run ping "$alice_fp"
check "ping without --udp: exit 2" '[ $rc -eq 2 ] && [[ $err == *"--udp"* ]]'
run ping --udp localhost "$alice_fp"
check "ping with no port: exit 2" '[ $rc -eq 2 ] && [[ $err == *"HOST:PORT"* ]]'

# ---- a ping first, then a stream both ways through the same --once listener
rm -f "$WORK/l.err"
as alice listen --udp 127.0.0.1:0 --once <"$WORK/big2" >"$WORK/l.out" 2>"$WORK/l.err" &
lpid=$!
PIDS+=($lpid)
port=$(listen_port "$WORK/l.err")
check "listener printed its address" '[ -n "$port" ]'
out=$(as bob ping --udp "127.0.0.1:$port" "$alice_fp" -c 3 -i 50 2>"$WORK/p.err")
rc=$?
err=$(cat "$WORK/p.err")
check "ping exits 0 and prints the handshake time" \
    '[ $rc -eq 0 ] && [[ $out =~ "handshake with $alice_fp at 127.0.0.1:$port: "[0-9]+\.[0-9]{3}" ms" ]]'
check "ping prints pongs 1..3 with their RTT" \
    '[[ $out =~ "pong 1: rtt "[0-9.]+" ms" && $out =~ "pong 2: rtt" && $out =~ "pong 3: rtt" ]]'
check "ping prints a summary without loss" \
    '[[ $out =~ "3 sent, 3 received, 0% loss; rtt min/avg/max "[0-9.]+/[0-9.]+/[0-9.]+" ms" ]]'
as bob connect --udp "127.0.0.1:$port" "$alice_fp" <"$WORK/big" >"$WORK/c.out" 2>"$WORK/c.err"
rc=$?
wait $lpid
lrc=$?
err=$(cat "$WORK/c.err" "$WORK/l.err")
check "connect and listen --once both exit 0 (the ping did not use up --once)" \
    '[ $rc -eq 0 ] && [ $lrc -eq 0 ]'
check "3 MB from connect arrive intact at the listener" \
    '[ "$(sha "$WORK/l.out")" = "$(sha "$WORK/big")" ]'
check "1 MB from the listener arrive intact at connect" \
    '[ "$(sha "$WORK/c.out")" = "$(sha "$WORK/big2")" ]'
check "connect names the peer and its address" \
    'grep -qF "peerlink: connected to $alice_fp at 127.0.0.1:$port (udp)" "$WORK/c.err"'
check "listen names the peer" 'grep -qF "peerlink: connected to $bob_fp from 127.0.0.1:" "$WORK/l.err"'

# ---- --cc and --verbose: CUBIC on both sides, the stats lines on stderr
run connect --udp 127.0.0.1:7 --cc vegas "$alice_fp"
check "--cc vegas: exit 2 naming the choices" '[ $rc -eq 2 ] && [[ $err == *"cubic or newreno"* ]]'
run connect --tcp 127.0.0.1:7 --verbose "$alice_fp"
check "--verbose without --udp: exit 2" '[ $rc -eq 2 ] && [[ $err == *"--verbose is for --udp"* ]]'
rm -f "$WORK/l.err"
as alice listen --udp 127.0.0.1:0 --once --cc cubic --verbose </dev/null >"$WORK/l.out" 2>"$WORK/l.err" &
lpid=$!
PIDS+=($lpid)
port=$(listen_port "$WORK/l.err")
as bob connect --udp "127.0.0.1:$port" --cc cubic --verbose "$alice_fp" <"$WORK/big" >/dev/null \
    2>"$WORK/c.err"
rc=$?
wait $lpid
lrc=$?
err=$(cat "$WORK/c.err" "$WORK/l.err")
check "--cc cubic --verbose: 3 MB intact, both exit 0" \
    '[ $rc -eq 0 ] && [ $lrc -eq 0 ] && [ "$(sha "$WORK/l.out")" = "$(sha "$WORK/big")" ]'
check "connect --verbose ends with a stats line: cubic, window, RTT, bytes sent" \
    'grep -qE "^peerlink: end ni:.*: cubic cwnd [0-9.]+ [kMG]?B.*rtt [0-9.]+ ms.*sent [0-9.]+ MB" "$WORK/c.err"'
check "... with packets, losses and retransmissions counted" \
    'grep -qE "^peerlink: end .* [0-9]+ packets, [0-9]+ lost, [0-9]+ retransmitted, [0-9]+ spurious" "$WORK/c.err"'
check "listen --verbose reports the bytes received" \
    'grep -qE "^peerlink: end ni:.*received [0-9.]+ MB" "$WORK/l.err"'

# ---- --exec: an echo server over pipes, 3 MB through `cat` and back
rm -f "$WORK/l.err"
as alice listen --udp 127.0.0.1:0 --once --exec cat </dev/null 2>"$WORK/l.err" &
lpid=$!
PIDS+=($lpid)
port=$(listen_port "$WORK/l.err")
cat "$WORK/big" | as bob connect --udp "127.0.0.1:$port" "$alice_fp" 2>"$WORK/c.err" |
    cat >"$WORK/echo.out"
rc=${PIPESTATUS[1]}
wait $lpid
lrc=$?
err=$(cat "$WORK/c.err" "$WORK/l.err")
check "--exec cat echoes 3 MB back through pipes; both exit 0" \
    '[ $rc -eq 0 ] && [ $lrc -eq 0 ] && [ "$(sha "$WORK/echo.out")" = "$(sha "$WORK/big")" ]'

# ---- IPv6
if python3 -c 'import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))' 2>/dev/null; then
    rm -f "$WORK/l.err"
    as alice listen --udp '[::1]:0' --once </dev/null >"$WORK/l.out" 2>"$WORK/l.err" &
    lpid=$!
    PIDS+=($lpid)
    port=$(listen_port "$WORK/l.err")
    as bob connect --udp "[::1]:$port" "$alice_fp" <"$WORK/big2" >/dev/null 2>"$WORK/c.err"
    rc=$?
    wait $lpid
    lrc=$?
    err=$(cat "$WORK/c.err" "$WORK/l.err")
    check "over IPv6 ([::1]): 1 MB intact, both exit 0" \
        '[ $rc -eq 0 ] && [ $lrc -eq 0 ] && [ "$(sha "$WORK/l.out")" = "$(sha "$WORK/big2")" ]'
else
    skip "over IPv6 ([::1]): 1 MB intact, both exit 0" "no IPv6 loopback here"
fi

# ---- refusals and silence
rm -f "$WORK/l.err"
as alice listen --udp 127.0.0.1:0 </dev/null >/dev/null 2>"$WORK/l.err" &
lpid=$!
PIDS+=($lpid)
port=$(listen_port "$WORK/l.err")
start=$(date +%s%N)
run_as() { # run_as NODE ARGS...: like run, as that node
    local who=$1
    shift
    out=$(XDG_CONFIG_HOME="$WORK/$who" timeout 20 "$PEERLINK" "$@" 2>"$WORK/.stderr" </dev/null)
    rc=$?
    err=$(cat "$WORK/.stderr")
}
run_as carol connect --udp "127.0.0.1:$port" "$alice_fp"
ms=$((($(date +%s%N) - start) / 1000000))
check "an untrusted peer is refused at once (exit 1, ${ms} ms)" '[ $rc -eq 1 ] && [ $ms -lt 3000 ]'
check "... and told how to be trusted" \
    '[[ $err == *"refused us: it does not trust this node"* && $err == *"trust add '"'"'$carol_fp'"'"'"* ]]'
wait_for "$WORK/l.err" "refused $carol_fp" || true
check "the listener names the refused peer and the command that would trust it" \
    'grep -qF "refused $carol_fp from 127.0.0.1:" "$WORK/l.err" && grep -qF "trust add '"'"'$carol_fp'"'"'" "$WORK/l.err"'
run_as carol ping --udp "127.0.0.1:$port" "$alice_fp" -c 1
check "ping by an untrusted peer: exit 1, refused" '[ $rc -eq 1 ] && [[ $err == *"refused us"* ]]'

# nobody there, and a wrong fingerprint: both are silence (run side by side)
nobody=$(free_udp_port)
start=$(date +%s%N)
(
    XDG_CONFIG_HOME="$WORK/bob" timeout 20 "$PEERLINK" connect --udp "127.0.0.1:$nobody" "$alice_fp" \
        </dev/null >/dev/null 2>"$WORK/n.err"
    echo $? >"$WORK/n.rc"
) &
PIDS+=($!)
XDG_CONFIG_HOME="$WORK/bob" timeout 20 "$PEERLINK" connect --udp "127.0.0.1:$port" "$carol_fp" \
    </dev/null >/dev/null 2>"$WORK/w.err"
wrc=$?
wait "${PIDS[-1]}"
ms=$((($(date +%s%N) - start) / 1000000))
rc=$(cat "$WORK/n.rc")
err=$(cat "$WORK/n.err" "$WORK/w.err")
check "nobody listening: exit 1 after the handshake timeout (${ms} ms for both)" \
    '[ "$rc" = 1 ] && [ $ms -lt 15000 ]'
check "... saying there was no answer" \
    'grep -qF "no answer from 127.0.0.1:$nobody" "$WORK/n.err"'
check "a wrong fingerprint: exit 1, no answer, naming the key asked for" \
    '[ $wrc -eq 1 ] && grep -qF "is it $carol_fp?" "$WORK/w.err"'
alive=0
kill -0 $lpid 2>/dev/null && alive=1
kill $lpid 2>/dev/null
wait $lpid 2>/dev/null
check "the listener kept running through all of it" '[ $alive -eq 1 ]'

finish
