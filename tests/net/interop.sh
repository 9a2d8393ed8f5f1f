#!/usr/bin/env bash
# interop.sh - a pl_stls engine (driven by $STLS_SOCK over TCP) against stock
# `openssl s_server` and `openssl s_client` on loopback, TLS 1.3, Ed25519
# certificates made by `openssl req`:
#   (a) a client-only node dials s_server -Verify 1: mutual handshake, data
#       both ways, the server key checked against the expected fingerprint
#       (computed independently: SHA3-256 of the DER SPKI, base64url);
#   (b) a server-only node accepts s_client: a client certificate in the
#       trust file (`peerlink trust add`) gets in; an untrusted one and none
#       at all are refused;
#   (c) two nodes that may each be client or server, over one TCP
#       connection: their ClientHellos cross and the tie-breaker settles it,
#       and equal tie-breakers (forced with --tiebreak) make both abort;
#   (d) (a) and (b) with the `peerlink` tool: connect --client-only and
#       listen --server-only.
# Ports are picked by the kernel (port 0); every process runs under
# `timeout`; the trap removes processes and the temporary directory.
set -u

if [ -z "${PEERLINK:-}" ] || [ ! -x "$PEERLINK" ] || [ -z "${STLS_SOCK:-}" ] ||
    [ ! -x "$STLS_SOCK" ]; then
    echo "Bail out! \$PEERLINK and \$STLS_SOCK must name the tool and the test driver"
    exit 1
fi
if ! command -v openssl >/dev/null || ! command -v timeout >/dev/null ||
    ! command -v basenc >/dev/null; then
    echo "1..0 # SKIP needs openssl, timeout and basenc"
    exit 0
fi

T_COUNT=0
T_FAILED=0
PIDS=()
W=$(mktemp -d "${TMPDIR:-/tmp}/peerlink-net-test.XXXXXX") || exit 1
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
export XDG_CONFIG_HOME="$W/config" HOME="$W/home"
unset PEERLINK_KEY PEERLINK_TRUST
mkdir -p "$HOME"

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

# fp_of PEM: the peerlink fingerprint of the key in a private key,
# certificate or public key PEM file, computed with openssl alone.
fp_of() {
    local pub
    if grep -q 'BEGIN CERTIFICATE' "$1"; then
        pub=$(openssl x509 -in "$1" -noout -pubkey)
    else
        pub=$(openssl pkey -in "$1" -pubout)
    fi
    printf 'ni:///sha3-256;%s\n' "$(printf '%s\n' "$pub" | openssl pkey -pubin -outform DER |
        openssl dgst -sha3-256 -binary | basenc --base64url | tr -d =)"
}

# wait_for FILE REGEX: until a line of FILE matches (5 s at most).
wait_for() {
    local i
    for i in $(seq 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

stock_cert() { # NAME: $W/NAME.key and $W/NAME.pem, Ed25519, self-signed
    openssl req -x509 -newkey ed25519 -nodes -keyout "$W/$1.key" -out "$W/$1.pem" \
        -subj "/CN=$1" -days 2 2>/dev/null
}

# s_server_start NAME: a stock TLS 1.3 server with certificate NAME that
# requires a client certificate, serves one connection and sends one
# line. Sets $spid and $sport; its output goes to $W/s_server.out.
s_server_start() {
    rm -f "$W/s_server.in" "$W/s_server.out"
    mkfifo "$W/s_server.in"
    exec 3<>"$W/s_server.in"
    echo "hello from s_server" >&3
    timeout 20 openssl s_server -accept 127.0.0.1:0 -tls1_3 -Verify 1 -naccept 1 \
        -cert "$W/$1.pem" -key "$W/$1.key" <"$W/s_server.in" >"$W/s_server.out" 2>&1 &
    spid=$!
    PIDS+=("$spid")
    wait_for "$W/s_server.out" '^ACCEPT ' || return 1
    sport=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$W/s_server.out")
}

s_server_end() {
    wait "$spid" 2>/dev/null
    exec 3>&-
}

# node_connect ARGS...: the node dials s_server; sets $rc.
node_connect() {
    timeout 20 "$STLS_SOCK" connect 127.0.0.1 "$sport" --key "$W/node.key" "$@" \
        >"$W/node.out" 2>"$W/node.err"
    rc=$?
}

# node_listen_s_client CLIENT-ARGS...: a server-only node on a free port,
# trusting $W/trust, and s_client with the given arguments sending one
# line. Sets $rc (the node's exit status).
node_listen_s_client() {
    rm -f "$W/node.out" "$W/s_client.in"
    timeout 20 "$STLS_SOCK" listen 0 --server-only --key "$W/node.key" --trust "$W/trust" \
        >"$W/node.out" 2>"$W/node.err" &
    local npid=$!
    PIDS+=("$npid")
    if ! wait_for "$W/node.out" '^listening '; then
        rc=99
        return
    fi
    local port
    port=$(sed -n 's/^listening //p' "$W/node.out")
    mkfifo "$W/s_client.in"
    exec 4<>"$W/s_client.in"
    echo "hello from s_client" >&4
    timeout 20 openssl s_client -connect "127.0.0.1:$port" -tls1_3 -ign_eof "$@" \
        <"$W/s_client.in" >"$W/s_client.out" 2>&1
    wait "$npid"
    rc=$?
    exec 4>&-
}

echo "1..25"

"$PEERLINK" -k "$W/node.key" keygen >/dev/null 2>&1
node_fp=$("$PEERLINK" -k "$W/node.key" id)
stock_cert server
stock_cert client
stock_cert stranger
server_fp=$(fp_of "$W/server.pem")
check "the fingerprint of a stock key is the same from its key and its certificate" \
    '[ "$server_fp" = "$(fp_of "$W/server.key")" ] && [[ $server_fp == ni:///sha3-256\;* ]]'

# ---- (a) client-only node -> openssl s_server -Verify 1
logs=("$W/node.out" "$W/node.err" "$W/s_server.out")
s_server_start server
node_connect --client-only --expect "$server_fp"
s_server_end
check "client-only node -> s_server, expected = the server's key: handshake completes" \
    '[ $rc -eq 0 ] && grep -qxF "peer $server_fp" "$W/node.out"' "${logs[@]}"
check "... the node reads the server's line and the server's display name" \
    'grep -qxF "recv hello from s_server" "$W/node.out" && grep -qxF "name server" "$W/node.out"' \
    "${logs[@]}"
check "... s_server got the node's certificate (mutual) and the node's line" \
    'grep -q "depth=0 CN = stls_sock" "$W/s_server.out" &&
     grep -qxF "hello from peerlink" "$W/s_server.out"' "${logs[@]}"

s_server_start server
node_connect --client-only --expect "$(fp_of "$W/stranger.pem")"
s_server_end
check "client-only node -> s_server, expected = another key: refused (exit 1)" \
    '[ $rc -eq 1 ] && grep -q "not the one dialled" "$W/node.err"' "${logs[@]}"
check "... the node names the key it refused, and no data passed either way" \
    'grep -qxF "refused $server_fp" "$W/node.out" && ! grep -q "^recv" "$W/node.out" &&
     ! grep -q "hello from peerlink" "$W/s_server.out"' "${logs[@]}"

s_server_start server
node_connect --client-only
s_server_end
check "client-only node -> s_server, nothing expected, empty trust store: refused" \
    '[ $rc -eq 1 ] && grep -q "not in the trust store" "$W/node.err" &&
     ! grep -q "hello from peerlink" "$W/s_server.out"' "${logs[@]}"

"$PEERLINK" -t "$W/trust-a" trust add "$server_fp" --name stock-server >/dev/null 2>&1
s_server_start server
node_connect --client-only --trust "$W/trust-a"
s_server_end
check "client-only node -> s_server, server key in the trust file: handshake, data" \
    '[ $rc -eq 0 ] && grep -qxF "peer $server_fp" "$W/node.out" &&
     grep -qxF "recv hello from s_server" "$W/node.out"' "${logs[@]}"

"$PEERLINK" -t "$W/trust-d" trust deny "$server_fp" >/dev/null 2>&1
s_server_start server
node_connect --client-only --trust "$W/trust-d" --expect "$server_fp"
s_server_end
check "client-only node -> s_server, expected but denied in the trust file: refused" \
    '[ $rc -eq 1 ] && grep -q "denied" "$W/node.err"' "${logs[@]}"

# ---- (b) openssl s_client -> server-only node
logs=("$W/node.out" "$W/node.err" "$W/s_client.out")
client_fp=$(fp_of "$W/client.pem")
"$PEERLINK" -t "$W/trust" trust add "$client_fp" --name stock-client >/dev/null 2>&1
check "peerlink trust add wrote the client's fingerprint to the trust file" \
    'grep -qF "allow $client_fp" "$W/trust"'

node_listen_s_client -cert "$W/client.pem" -key "$W/client.key"
check "s_client with a trusted certificate -> server-only node: handshake completes" \
    '[ $rc -eq 0 ] && grep -qxF "peer $client_fp" "$W/node.out"' "${logs[@]}"
check "... the node reads s_client's line, s_client reads the node's" \
    'grep -qxF "recv hello from s_client" "$W/node.out" &&
     grep -qxF "hello from peerlink" "$W/s_client.out"' "${logs[@]}"
sed -n '/^Server certificate$/,/^-----END CERTIFICATE-----$/p' "$W/s_client.out" |
    sed 1d >"$W/node-cert.pem"
check "... the certificate s_client saw holds the node's key (peerlink id)" \
    '[ -s "$W/node-cert.pem" ] && [ "$(fp_of "$W/node-cert.pem")" = "$node_fp" ]' "${logs[@]}"
check "... s_client saw TLS 1.3 with an Ed25519 peer signature" \
    'grep -q "^New, TLSv1.3" "$W/s_client.out" &&
     grep -q "^Peer signature type: ed25519" "$W/s_client.out"' "${logs[@]}"

node_listen_s_client -cert "$W/stranger.pem" -key "$W/stranger.key"
check "s_client with an untrusted certificate -> server-only node: refused (exit 1)" \
    '[ $rc -eq 1 ] && grep -q "not in the trust store" "$W/node.err"' "${logs[@]}"
check "... the node names the refused key; no data reached s_client" \
    'grep -qxF "refused $(fp_of "$W/stranger.pem")" "$W/node.out" &&
     ! grep -q "^peer" "$W/node.out" && ! grep -q "hello from peerlink" "$W/s_client.out"' \
    "${logs[@]}"

node_listen_s_client
check "s_client without a certificate -> server-only node: refused (exit 1)" \
    '[ $rc -eq 1 ] && ! grep -q "^peer" "$W/node.out" && ! grep -q "^refused" "$W/node.out"' \
    "${logs[@]}"
check "... no data reached s_client" \
    '! grep -q "hello from peerlink" "$W/s_client.out" && ! grep -q "^recv" "$W/node.out"' \
    "${logs[@]}"

# ---- (c) node <-> node, both PL_STLS_PEER: crossing ClientHellos over TCP
"$PEERLINK" -k "$W/peer.key" keygen >/dev/null 2>&1
peer_fp=$("$PEERLINK" -k "$W/peer.key" id)
"$PEERLINK" -t "$W/trust-node" trust add "$peer_fp" >/dev/null 2>&1
"$PEERLINK" -t "$W/trust-peer" trust add "$node_fp" >/dev/null 2>&1
timeout 20 "$STLS_SOCK" listen 0 --key "$W/peer.key" --trust "$W/trust-peer" --send "hello from B" \
    >"$W/peer.out" 2>"$W/peer.err" &
ppid=$!
PIDS+=("$ppid")
rc=99
if wait_for "$W/peer.out" '^listening '; then
    timeout 20 "$STLS_SOCK" connect 127.0.0.1 "$(sed -n 's/^listening //p' "$W/peer.out")" \
        --key "$W/node.key" --trust "$W/trust-node" >"$W/node.out" 2>"$W/node.err"
    rc=$?
fi
wait "$ppid"
prc=$?
logs=("$W/node.out" "$W/node.err" "$W/peer.out" "$W/peer.err")
check "two peer-role nodes over TCP: both complete the handshake, each names the other" \
    '[ $rc -eq 0 ] && [ $prc -eq 0 ] && grep -qxF "peer $peer_fp" "$W/node.out" &&
     grep -qxF "peer $node_fp" "$W/peer.out"' "${logs[@]}"
check "... and each reads the other's line" \
    'grep -qxF "recv hello from B" "$W/node.out" && grep -qxF "recv hello from peerlink" "$W/peer.out"' \
    "${logs[@]}"

# ---- (c') equal tie-breakers over TCP: both sides abort, nothing passes
timeout 20 "$STLS_SOCK" listen 0 --key "$W/peer.key" --trust "$W/trust-peer" --tiebreak 7 \
    >"$W/peer.out" 2>"$W/peer.err" &
ppid=$!
PIDS+=("$ppid")
rc=99
if wait_for "$W/peer.out" '^listening '; then
    timeout 20 "$STLS_SOCK" connect 127.0.0.1 "$(sed -n 's/^listening //p' "$W/peer.out")" \
        --key "$W/node.key" --trust "$W/trust-node" --tiebreak 7 >"$W/node.out" 2>"$W/node.err"
    rc=$?
fi
wait "$ppid"
prc=$?
logs=("$W/node.out" "$W/node.err" "$W/peer.out" "$W/peer.err")
check "two nodes drawing the same tie-breaker over TCP: both fail (exit 1), saying so" \
    '[ $rc -eq 1 ] && [ $prc -eq 1 ] && grep -q "equal tie-breakers" "$W/node.err" &&
     grep -q "equal tie-breakers" "$W/peer.err"' "${logs[@]}"
check "... and no line passed either way" \
    '! grep -q "^recv" "$W/node.out" && ! grep -q "^recv" "$W/peer.out"' "${logs[@]}"

# ---- (d) the same with the `peerlink` tool itself
s_server_start server
echo "hello from the tool" >"$W/tool.in"
XDG_CONFIG_HOME="$W/toolcfg" timeout 20 "$PEERLINK" -k "$W/node.key" -t "$W/trust" connect \
    --client-only --tcp "127.0.0.1:$sport" "$server_fp" <"$W/tool.in" >"$W/tool.out" \
    2>"$W/tool.err"
rc=$?
s_server_end
logs=("$W/tool.out" "$W/tool.err" "$W/s_server.out")
check "peerlink connect --client-only -> s_server -Verify 1: exit 0, lines both ways" \
    '[ $rc -eq 0 ] && grep -qF "connected to $server_fp \"server\"" "$W/tool.err" &&
     grep -qxF "hello from s_server" "$W/tool.out" &&
     grep -qxF "hello from the tool" "$W/s_server.out"' "${logs[@]}"
# listen_s_client CLIENT-ARGS...: `peerlink listen --server-only --once`
# trusting $W/trust, and s_client sending one line; $rc is listen's status
listen_s_client() {
    rm -f "$W/s_client.in" "$W/tool.in" "$W/tool.out"
    # the listener's input stays open until s_client's line has arrived,
    # so its close_notify cannot overtake that line
    mkfifo "$W/tool.in"
    exec 5<>"$W/tool.in"
    echo "hello from the listener" >&5
    XDG_CONFIG_HOME="$W/toolcfg" timeout 20 "$PEERLINK" -k "$W/node.key" -t "$W/trust" listen \
        --server-only --once --tcp 127.0.0.1:0 <"$W/tool.in" >"$W/tool.out" 2>"$W/tool.err" 5>&- &
    local lpid=$!
    PIDS+=("$lpid")
    if ! wait_for "$W/tool.err" 'listening on'; then
        rc=99
        return
    fi
    local port
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$W/tool.err")
    mkfifo "$W/s_client.in"
    exec 4<>"$W/s_client.in"
    echo "hello from s_client" >&4
    timeout 20 openssl s_client -connect "127.0.0.1:$port" -tls1_3 -ign_eof "$@" \
        <"$W/s_client.in" >"$W/s_client.out" 2>&1 5>&- &
    local cpid=$!
    PIDS+=("$cpid")
    for _ in $(seq 100); do
        grep -q "hello from s_client" "$W/tool.out" 2>/dev/null && break
        grep -q "refused" "$W/tool.err" 2>/dev/null && break
        sleep 0.05
    done
    exec 5>&-
    wait "$lpid"
    rc=$?
    kill "$cpid" 2>/dev/null
    wait "$cpid" 2>/dev/null
    exec 4>&-
}
listen_s_client -cert "$W/client.pem" -key "$W/client.key"
logs=("$W/tool.out" "$W/tool.err" "$W/s_client.out")
check "s_client (trusted) -> peerlink listen --server-only: lines both ways" \
    'grep -qF "connected to $client_fp \"client\"" "$W/tool.err" &&
     grep -qxF "hello from s_client" "$W/tool.out" &&
     grep -qxF "hello from the listener" "$W/s_client.out"' "${logs[@]}"
listen_s_client -cert "$W/stranger.pem" -key "$W/stranger.key"
check "s_client (untrusted) -> peerlink listen --server-only: exit 1, the key named" \
    '[ $rc -eq 1 ] && grep -qF "refused $(fp_of "$W/stranger.pem")" "$W/tool.err" &&
     grep -q "trust add" "$W/tool.err" && ! grep -q "hello from the listener" "$W/s_client.out"' \
    "${logs[@]}"

[ "$T_FAILED" -eq 0 ]
