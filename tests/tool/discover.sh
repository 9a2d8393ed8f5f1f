#!/usr/bin/env bash
# discover.sh - `peerlink announce` and `peerlink discover` against real
# servers on loopback: Knot DNS serving a temporary zone whose TXT records
# `peerlink record sign --txt` made, a small python3 HTTP(S) directory
# (helpers/dirserver.py), and a DNS proxy that alters one byte of each
# answer (helpers/dnsproxy.py). Every tampered, stale, early or foreign
# set must be refused, saying why.
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

HELPERS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/helpers"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

for tool in knotd python3 openssl dig; do
    if ! command -v "$tool" >/dev/null; then
        echo "1..0 # SKIP $tool is not installed (scripts/setup.sh installs it)"
        exit 0
    fi
done

plan 54

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for_file() { # bounded: 10 s
    for _ in $(seq 100); do
        [ -s "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

ZONE=dir.test
now=$(date +%s)

# key NAME: a key file $WORK/NAME.key; sets fp_NAME (with the zone as its
# authority), b64_NAME (the last part) and dns_NAME (its DNS name).
key() {
    "$PEERLINK" -k "$WORK/$1.key" keygen >/dev/null 2>&1
    local j
    j=$("$PEERLINK" -k "$WORK/$1.key" id --authority "$ZONE" --json)
    eval "fp_$1=\$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[\"fingerprint\"])' \"\$j\")"
    eval "dns_$1=\$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[\"dns_name\"])' \"\$j\")"
    eval "b64_$1=\${fp_$1##*;}"
}

# sign NAME ARGS...: record sign with NAME's key (JSON on stdout)
sign() {
    local k=$1
    shift
    "$PEERLINK" -k "$WORK/$k.key" record sign "$@"
}

for k in A M R F E O L N H X S Z G K Q; do
    key "$k"
done

# ---- the zone -----------------------------------------------------------
KNOT="$WORK/knot"
HTTPROOT="$WORK/http"
mkdir -p "$KNOT" "$HTTPROOT"
big="$WORK/big.bin"
head -c 1024 /dev/urandom >"$big"
{
    echo "\$ORIGIN $ZONE."
    echo "\$TTL 60"
    echo "@ SOA ns.$ZONE. admin.$ZONE. 1 3600 600 86400 60"
    echo "@ NS ns"
    echo "ns A 127.0.0.1"
    echo "$dns_A. TXT $(sign A --txt --address udp://198.51.100.4:7000 --name alice@$ZONE)"
    # several sets under one name: an older one, the newest, and a broken one
    echo "$dns_M. TXT $(sign M --txt --now $((now - 600)) --address udp://198.51.100.1:1)"
    echo "$dns_M. TXT $(sign M --txt --now $((now - 60)) --address udp://198.51.100.2:2)"
    echo "$dns_M. TXT $(sign A --txt --address udp://198.51.100.3:3)"
    echo "$dns_R. TXT $(sign R --txt --now $((now - 600)) --address udp://198.51.100.9:9)"
    echo "$dns_F. TXT $(sign F --txt --now $((now + 3600)))"
    echo "$dns_E. TXT $(sign E --txt --now $((now - 7200)) --ttl 3600)"
    echo "$dns_O. TXT $(sign A --txt --address udp://198.51.100.4:7000)"
    echo "$dns_L. TXT $(sign L --txt --blob "$big" --blob "$big" --blob "$big" --blob "$big")"
    echo "$dns_X. TXT $(sign X --txt --address udp://198.51.100.4:7000)"
} >"$KNOT/$ZONE.zone"

DNSPORT=$(free_port)
cat >"$KNOT/knot.conf" <<EOF
server:
    rundir: "$KNOT"
    listen: 127.0.0.1@$DNSPORT
database:
    storage: "$KNOT/db"
log:
  - target: stderr
    any: error
zone:
  - domain: $ZONE
    storage: "$KNOT"
    file: "$ZONE.zone"
EOF
knotd -c "$KNOT/knot.conf" 2>"$KNOT/log" &
PIDS+=($!)
for _ in $(seq 100); do
    dig +short +time=1 +tries=1 @127.0.0.1 -p "$DNSPORT" SOA "$ZONE" 2>/dev/null | grep -q admin && break
    sleep 0.1
done

# ---- the HTTP and HTTPS directories -------------------------------------
python3 "$HELPERS/dirserver.py" "$HTTPROOT" "$WORK/http.port" &
PIDS+=($!)
openssl req -x509 -newkey ed25519 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null
python3 "$HELPERS/dirserver.py" "$HTTPROOT" "$WORK/https.port" "$WORK/tls.crt" "$WORK/tls.key" &
PIDS+=($!)
wait_for_file "$WORK/http.port" && wait_for_file "$WORK/https.port"
HTTP="http://127.0.0.1:$(cat "$WORK/http.port")"
HTTPS="https://127.0.0.1:$(cat "$WORK/https.port")"
DOWN=$(free_port) # nothing listens there

dns() { run discover "$@" --via dns --dns-server "127.0.0.1:$DNSPORT"; }
web() { run discover "$@" --via https --directory "$HTTP"; }
put_file() { printf '%s\n' "$2" >"$HTTPROOT/$1"; }

# ---- DNS -------------------------------------------------------------------
dns "$fp_A"
check "discover --via dns verifies the set Knot serves (exit 0)" \
    '[ $rc -eq 0 ] && [[ $out == *"address      udp://198.51.100.4:7000"* && $out == *"name         alice@$ZONE"* ]]'
check "... and says it came by DNS, under the fingerprint's DNS name" \
    '[[ $out == *"via          DNS, TXT $dns_A"* && $out == *"fingerprint  ni:///sha3-256;$b64_A"* ]]'
dns "$fp_A" --json
check "discover --json prints the JSON carrier of the verified set" \
    '[ $rc -eq 0 ] && printf "%s" "$out" | "$PEERLINK" record verify --fingerprint "$fp_A" - >/dev/null 2>&1'
dns "$fp_M"
check "of several TXT records the newest that verifies wins" \
    '[ $rc -eq 0 ] && [[ $out == *udp://198.51.100.2:2* && $out != *udp://198.51.100.1:1* ]]'
dns "$fp_R"
old=$(date -u -d "@$((now - 600))" +%Y-%m-%dT%H:%M:%SZ)
check "an older (replayed) set still valid is accepted and shown with its timestamp" \
    '[ $rc -eq 0 ] && [[ $out == *"signed       $old ("*" seconds ago)"* ]]'
dns "$fp_R" --min-timestamp $((now - 300))
check "... and refused with --min-timestamp of a newer set seen before" \
    '[ $rc -eq 1 ] && [[ $err == *"older than one already seen"*"a replay"* ]]'
dns "$fp_F"
check "a future-dated set is refused via DNS" \
    '[ $rc -eq 1 ] && [ -z "$out" ] && [[ $err == *"discover via DNS"*"dated in the future"* ]]'
dns "$fp_E"
check "an expired set is refused via DNS" '[ $rc -eq 1 ] && [[ $err == *"expired at"* ]]'
dns "$fp_O"
check "another key's set under this fingerprint's name is refused via DNS" \
    '[ $rc -eq 1 ] && [[ $err == *"signed by another key (ni:///sha3-256;$b64_A)"* ]]'
dns "$fp_N"
check "a name that is not in the zone: NXDOMAIN, not found (exit 1)" \
    '[ $rc -eq 1 ] && [[ $err == *NXDOMAIN* ]]'
run discover "$fp_A" --via dns --dns-server "127.0.0.1:$DOWN" --timeout 1
check "no DNS server listening: exit 1, no answer" \
    '[ $rc -eq 1 ] && [[ $err == *"no answer from the DNS server 127.0.0.1:$DOWN"* ]]'
run discover "ni:///sha3-256;$b64_A" --via dns --dns-server "127.0.0.1:$DNSPORT"
check "a fingerprint without an authority names no zone: exit 1, with a hint" \
    '[ $rc -eq 1 ] && [[ $err == *"names no DNS zone"* && $err == *hint* ]]'
run discover "ni://127.0.0.1/sha3-256;$b64_A" --via dns --dns-server "127.0.0.1:$DNSPORT"
check "an IP-address authority names no zone" '[ $rc -eq 1 ] && [[ $err == *"not a DNS name"* ]]'

# ---- truncation: a set too large for UDP comes over TCP ---------------------
tc=$(dig +noedns +notcp +ignore @127.0.0.1 -p "$DNSPORT" TXT "$dns_L" 2>/dev/null)
check "the large set does not fit a UDP answer (Knot sets TC)" '[[ $tc == *"flags: qr aa tc"* ]]'
dns "$fp_L" --no-edns
check "discover --no-edns still gets it: retried over TCP, verified, 4 blobs of 1024 bytes" \
    '[ $rc -eq 0 ] && [ "$(grep -c "blob         1024 bytes" <<<"$out")" -eq 4 ]'
run -v discover "$fp_L" --via dns --dns-server "127.0.0.1:$DNSPORT"
check "... also with EDNS0 (1232 bytes); the log says TCP" \
    '[ $rc -eq 0 ] && [[ $err == *"truncated; asking again over TCP"* && $err == *"answer over TCP"* ]]'

# ---- a DNS answer altered by one byte in flight -----------------------------
dns "$fp_X"
check "through Knot directly the set verifies" '[ $rc -eq 0 ]'
python3 "$HELPERS/dnsproxy.py" "$DNSPORT" "$WORK/proxy.port" 198.51.100.4 198.51.100.5 &
PIDS+=($!)
wait_for_file "$WORK/proxy.port"
run discover "$fp_X" --via dns --dns-server "127.0.0.1:$(cat "$WORK/proxy.port")"
check "through a proxy that changes one byte of the TXT record: refused" \
    '[ $rc -eq 1 ] && [ -z "$out" ] && [[ $err == *"the signature does not verify: the record set was altered or forged"* ]]'

# ---- HTTP: announce, then discover -----------------------------------------
run -k "$WORK/A.key" announce --directory "$HTTP" --address udp://198.51.100.4:7000 \
    --name "alice@$ZONE" --blob "$big" --ttl 600
check "announce --directory URL puts the set (exit 0) and says where, until when" \
    '[ $rc -eq 0 ] && [[ $err == *"announced ni:///sha3-256;$b64_A to $HTTP/.well-known/ni/sha3-256/$b64_A (HTTP 201), valid until"* ]]'
check "... as a PUT of application/json to the well-known path" \
    'grep -qx "PUT $b64_A application/json" "$HTTPROOT/put.log"'
check "... of a set that record verify accepts, with the fields given" \
    '"$PEERLINK" record verify --fingerprint "$fp_A" --json "$HTTPROOT/$b64_A" 2>/dev/null |
     python3 -c "import json,sys; d=json.load(sys.stdin); assert d[\"ttl\"]==600 and d[\"address\"]==[\"udp://198.51.100.4:7000\"] and len(d[\"blob\"])==1"'
web "$fp_A"
check "discover --via https gets it back, verified, via HTTPS" \
    '[ $rc -eq 0 ] && [[ $out == *"via          HTTPS, $HTTP/.well-known/ni/sha3-256/$b64_A"* && $out == *"blob         1024 bytes"* ]]'
web "$fp_A" --json
check "discover --json prints exactly the stored JSON" '[ "$out" = "$(cat "$HTTPROOT/$b64_A")" ]'
run -k "$WORK/H.key" announce --authority "127.0.0.1:$(cat "$WORK/https.port")" \
    --cacert "$WORK/tls.crt" --address tcp://198.51.100.7:7
check "announce --authority HOST:PORT uses https://HOST:PORT (--cacert for a test CA)" \
    '[ $rc -eq 0 ] && [ -s "$HTTPROOT/$b64_H" ]'

# ---- HTTPS ---------------------------------------------------------------
run discover "$fp_H" --via https --directory "$HTTPS" --cacert "$WORK/tls.crt"
check "discover over HTTPS with --cacert verifies" '[ $rc -eq 0 ] && [[ $out == *tcp://198.51.100.7:7* ]]'
run discover "$fp_H" --via https --directory "$HTTPS"
check "without --cacert the self-signed certificate is refused" \
    '[ $rc -eq 1 ] && [ -z "$out" ] && [[ $err == *"discover via HTTPS"*"certificate"* ]]'
run discover "ni://127.0.0.1:$(cat "$WORK/https.port")/sha3-256;$b64_H" --via https \
    --cacert "$WORK/tls.crt"
check "without --directory the fingerprint's authority names https://AUTHORITY" \
    '[ $rc -eq 0 ] && [[ $out == *"HTTPS, $HTTPS/.well-known/ni/sha3-256/$b64_H"* ]]'

# ---- any: DNS first, then HTTPS ----------------------------------------------
run discover "$fp_H" --directory "$HTTP" --dns-server "127.0.0.1:$DNSPORT"
check "--via any: not in DNS, found over HTTPS (exit 0, with a note)" \
    '[ $rc -eq 0 ] && [[ $out == *"via          HTTPS"* && $err == *"note: DNS gave nothing usable"*NXDOMAIN* ]]'
run discover "$fp_A" --directory "$HTTP" --dns-server "127.0.0.1:$DNSPORT"
check "--via any: DNS wins when it verifies" '[ $rc -eq 0 ] && [[ $out == *"via          DNS"* ]]'
run discover "$fp_N" --directory "$HTTP" --dns-server "127.0.0.1:$DNSPORT"
check "--via any: both fail: exit 1, each carrier's reason" \
    '[ $rc -eq 1 ] && [[ $err == *"discover via DNS"*NXDOMAIN* && $err == *"discover via HTTPS"*"HTTP 404"* ]]'

# ---- refused over HTTP ---------------------------------------------------
sign X --address udp://198.51.100.4:7000 >"$WORK/x.json"
sed 's/198\.51\.100\.4/198.51.100.5/' "$WORK/x.json" >"$HTTPROOT/$b64_X"
check "(the tampered body differs from the signed one in one byte)" \
    '[ "$(cmp -l "$WORK/x.json" "$HTTPROOT/$b64_X" | wc -l)" -eq 1 ]'
web "$fp_X"
check "a JSON body altered by one byte is refused" \
    '[ $rc -eq 1 ] && [ -z "$out" ] && [[ $err == *"the signature does not verify"* ]]'
sign F --now $((now + 3600)) >"$HTTPROOT/$b64_F"
web "$fp_F"
check "a future-dated set is refused via HTTPS" '[ $rc -eq 1 ] && [[ $err == *"dated in the future"* ]]'
sign E --now $((now - 7200)) --ttl 3600 >"$HTTPROOT/$b64_E"
web "$fp_E"
check "an expired set is refused via HTTPS" '[ $rc -eq 1 ] && [[ $err == *"expired at"* ]]'
cp "$HTTPROOT/$b64_A" "$HTTPROOT/$b64_O"
web "$fp_O"
check "another key's set under this fingerprint's path is refused via HTTPS" \
    '[ $rc -eq 1 ] && [[ $err == *"signed by another key (ni:///sha3-256;$b64_A)"* ]]'
sign R --now $((now - 600)) >"$HTTPROOT/$b64_R"
web "$fp_R" --min-timestamp $((now - 300))
check "an older set than one seen before (--min-timestamp) is refused via HTTPS" \
    '[ $rc -eq 1 ] && [[ $err == *"older than one already seen"* ]]'
web "$fp_R"
check "... and without it is shown with its age" '[ $rc -eq 0 ] && [[ $out == *"seconds ago"* ]]'
web "$fp_N"
check "nothing announced: HTTP 404, not found (exit 1)" \
    '[ $rc -eq 1 ] && [[ $err == *"HTTP 404 (nothing announced for this fingerprint): not_found: no record set"* ]]'
put_file "$b64_S" '{"error":"internal","reason":"database is locked"}'
echo 503 >"$HTTPROOT/$b64_S.status"
web "$fp_S"
check "a 5xx status is a failure with the server's reason" \
    '[ $rc -eq 1 ] && [[ $err == *"HTTP 503: internal: database is locked"* ]]'
head -c 30000 /dev/zero | tr '\0' x >"$HTTPROOT/$b64_Z"
web "$fp_Z"
check "a body over the 24576-byte cap is refused" \
    '[ $rc -eq 1 ] && [[ $err == *"larger than 24576 bytes"* ]]'
put_file "$b64_G" 'hello, not a record set'
web "$fp_G"
check "a body that is not a record set is refused, saying so" \
    '[ $rc -eq 1 ] && [[ $err == *"the reply is not a record set"* ]]'
run discover "$fp_A" --via https --directory "http://127.0.0.1:$DOWN"
check "no directory listening: exit 1, the connection failure named" \
    '[ $rc -eq 1 ] && [[ $err == *"GET http://127.0.0.1:$DOWN/.well-known"*"failed"* ]]'

# ---- announce refused --------------------------------------------------------
echo 409 >"$HTTPROOT/put.status"
printf '%s' '{"error":"rollback","reason":"older than the stored set"}' >"$HTTPROOT/put.body"
run -k "$WORK/Q.key" announce --directory "$HTTP" --address udp://198.51.100.8:8
check "a refused announce: exit 1 with the status and the directory's reason" \
    '[ $rc -eq 1 ] && [[ $err == *"refused the record set: HTTP 409: rollback: older than the stored set"* ]]'
printf '\033[31mred\001%s' "$(head -c 3000 /dev/zero | tr '\0' y)" >"$HTTPROOT/put.body"
echo 400 >"$HTTPROOT/put.status"
run -k "$WORK/Q.key" announce --directory "$HTTP" --address udp://198.51.100.8:8
check "... a hostile reason is cut short and its control bytes not printed" \
    '[ $rc -eq 1 ] && [[ $err == *"HTTP 400: ?[31mred?yyy"* ]] && [ ${#err} -lt 600 ] && [[ $err != *$'"'"'\033'"'"'* ]]'
rm -f "$HTTPROOT/put.status" "$HTTPROOT/put.body"
run -k "$WORK/Q.key" announce --directory "http://127.0.0.1:$DOWN" --address udp://198.51.100.8:8
check "announce to a directory that is down: exit 1" '[ $rc -eq 1 ] && [[ $err == *"failed"* ]]'
run -k "$WORK/Q.key" announce --address udp://198.51.100.8:8
check "announce without --directory or --authority: usage error (exit 2)" '[ $rc -eq 2 ]'
run -k "$WORK/Q.key" announce --directory "$HTTP" --address 'no scheme'
check "announce with a bad address: usage error naming it" \
    '[ $rc -eq 2 ] && [[ $err == *"cannot make the record set"* ]]'

# ---- --keep ----------------------------------------------------------------
: >"$HTTPROOT/put.log"
timeout --preserve-status -s TERM 5 "$PEERLINK" -k "$WORK/K.key" announce --keep --ttl 3 \
    --directory "$HTTP" --address udp://198.51.100.6:6 2>"$WORK/keep.err"
rc=$?
err=$(cat "$WORK/keep.err")
puts=$(grep -c "PUT $b64_K" "$HTTPROOT/put.log")
check "announce --keep --ttl 3 re-announces every 2 s until SIGTERM (exit 0)" \
    '[ $rc -eq 0 ] && [ "$puts" -ge 2 ] && [ "$puts" -le 4 ] && [[ $err == *"stopped by signal 15 after $puts announcements"* ]]'
dns_k=$("$PEERLINK" discover "$fp_K" --via https --directory "$HTTP" --json 2>/dev/null)
check "... the last set stored is fresh and verifies" \
    'python3 -c "import json,sys; d=json.loads(sys.argv[1]); assert d[\"ttl\"]==3 and d[\"timestamp\"]>=$now+2, d" "$dns_k"'
timeout --preserve-status -s TERM 4 "$PEERLINK" -k "$WORK/K.key" announce --keep --ttl 3 \
    --directory "http://127.0.0.1:$DOWN" --address udp://198.51.100.6:6 2>"$WORK/keep.err"
rc=$?
err=$(cat "$WORK/keep.err")
check "announce --keep retries a failure with backoff (1 s, 2 s) until stopped" \
    '[ $rc -eq 0 ] && [[ $err == *"retrying in 1 seconds"*"retrying in 2 seconds"* ]]'
echo 403 >"$HTTPROOT/put.status"
printf '%s' '{"error":"forbidden","reason":"not in this zone"}' >"$HTTPROOT/put.body"
run -k "$WORK/K.key" announce --keep --ttl 3 --directory "$HTTP" --address udp://198.51.100.6:6
check "announce --keep stops at a 4xx refusal (exit 1)" \
    '[ $rc -eq 1 ] && [[ $err == *"not retrying"* ]]'
rm -f "$HTTPROOT/put.status" "$HTTPROOT/put.body"

# ---- command line ----------------------------------------------------------
run discover
check "discover without a fingerprint: exit 2" '[ $rc -eq 2 ]'
run discover "$fp_A" --via carrier-pigeon
check "discover --via something else: exit 2" '[ $rc -eq 2 ] && [[ $err == *"dns, https or any"* ]]'
run discover --help
check "discover --help lists the options" '[ $rc -eq 0 ] && [[ $out == *--dns-server* && $out == *--min-timestamp* ]]'

finish
