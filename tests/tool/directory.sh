#!/usr/bin/env bash
# directory.sh - `peerlink directory serve` end to end with stock clients:
# announce with curl (HTTP and HTTPS), discover with curl and dig (UDP, TCP,
# EDNS0 sizes, truncation and the TCP retry), SOA/NS/NXDOMAIN, the DNS TTL
# bound, expiry from both HTTP and DNS, every tampering refused with a clear
# message, rate limiting, a clean stop and a restart on the same database.
# Loopback only; the directory binds port 0 and prints its ports; every
# client runs under a timeout; all processes are killed on exit.
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

plan 58

ZONE=dir.test
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

# key NAME: a key file; sets $NAME_fp, $NAME_b (URL digest), $NAME_dns.
key() {
    "$PEERLINK" -k "$WORK/$1.key" keygen >/dev/null 2>&1 || exit 1
    local j
    j=$("$PEERLINK" -k "$WORK/$1.key" id --json --authority "$ZONE")
    printf -v "${1}_fp" '%s' "$("$PEERLINK" -k "$WORK/$1.key" id)"
    printf -v "${1}_b" '%s' "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["fingerprint"].split(";")[1])' "$j")"
    printf -v "${1}_dns" '%s' "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["dns_name"])' "$j")"
}
# sign NAME FILE ARGS...: a record set by NAME's key into FILE.
sign() {
    local who=$1 file=$2
    shift 2
    "$PEERLINK" -k "$WORK/$who.key" record sign "$@" >"$file" || exit 1
}
# start LOG ARGS...: run the directory in the background; sets $SRV.
start() {
    local log=$1 i
    shift
    "$PEERLINK" directory serve --zone "$ZONE" "$@" >/dev/null 2>"$log" &
    SRV=$!
    PIDS+=("$SRV")
    for i in $(seq 1 100); do
        grep -q "listening on" "$log" 2>/dev/null && [ "$(grep -c 'listening on' "$log")" -ge "$NLISTEN" ] && return 0
        sleep 0.05
    done
    return 1
}
port_of() { # LOG SERVICE
    sed -n "s/.*: $2 listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p" "$1" | head -1
}
# put NAME FILE [BASE]: PUT FILE to NAME's URL; sets $code and $body.
put() {
    local base=${3:-http://127.0.0.1:$HP}
    body=$(curl -sS -m 10 -o - -w '\n%{http_code}' -X PUT --data-binary "@$2" \
        "$base/.well-known/ni/sha3-256/$(eval echo "\$${1}_b")" 2>&1)
    code=${body##*$'\n'}
    body=${body%$'\n'*}
}
get() { # NAME [BASE]
    local base=${2:-http://127.0.0.1:$HP}
    body=$(curl -sS -m 10 -o - -w '\n%{http_code}' "$base/.well-known/ni/sha3-256/$(eval echo "\$${1}_b")" 2>&1)
    code=${body##*$'\n'}
    body=${body%$'\n'*}
}
# http METHOD URL [CURL ARGS...]: sets $code and $body.
http() {
    local m=$1 u=$2
    shift 2
    body=$(curl -sS -m 10 -o - -w '\n%{http_code}' -X "$m" "$@" "$u" 2>&1)
    code=${body##*$'\n'}
    body=${body%$'\n'*}
}
d() { # dig against our DNS port
    timeout 20 dig @127.0.0.1 -p "$DP" +time=2 +tries=2 "$@"
}

key alice
key bob
key carol
key dave
now=$(date +%s)

# ---- start: HTTP, HTTPS and DNS on free ports
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$ZONE" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:$ZONE" -keyout "$WORK/tls.key" -out "$WORK/tls.crt" \
    >/dev/null 2>&1
NLISTEN=4
start "$WORK/srv.log" --db "$WORK/dir.db" --http 127.0.0.1:0 --https 127.0.0.1:0 \
    --cert "$WORK/tls.crt" --key "$WORK/tls.key" --dns 127.0.0.1:0 --rate 0
HP=$(port_of "$WORK/srv.log" http)
SP=$(port_of "$WORK/srv.log" https)
DP=$(port_of "$WORK/srv.log" dns-udp)
check "directory serve prints its HTTP, HTTPS and DNS ports" '[ -n "$HP" ] && [ -n "$SP" ] && [ -n "$DP" ]'

# ---- announce and discover over HTTP
sign alice "$WORK/a1.json" --address udp://192.0.2.1:7000 --ttl 3600
put alice "$WORK/a1.json"
check "PUT of a fresh record set: 201 created" '[ "$code" = 201 ] && [[ $body == *"\"status\":\"created\""* ]]'
put alice "$WORK/a1.json"
check "the same set again: 200 unchanged" '[ "$code" = 200 ] && [[ $body == *unchanged* ]]'
get alice
printf '%s' "$body" >"$WORK/got.json"
check "GET returns the set (JSON)" '[ "$code" = 200 ] && cmp -s <(tr -d "\n" <"$WORK/a1.json") "$WORK/got.json"'
run record verify --fingerprint "$alice_fp" "$WORK/got.json"
check "... which verifies against alice's fingerprint" '[ $rc -eq 0 ]'
hdr=$(curl -sS -m 10 -I "http://127.0.0.1:$HP/.well-known/ni/sha3-256/$alice_b")
check "HEAD: 200 with a JSON content type" '[[ $hdr == *"200 OK"* && $hdr == *"application/json"* ]]'
get bob
check "GET of an unknown fingerprint: 404 with a JSON reason" \
    '[ "$code" = 404 ] && [[ $body == *"\"error\":\"not_found\""* && $body == *reason* ]]'
sleep 1
sign alice "$WORK/a2.json" --address udp://192.0.2.2:7000 --ttl 3600
put alice "$WORK/a2.json"
check "a newer set replaces it: 200 replaced" '[ "$code" = 200 ] && [[ $body == *replaced* ]]'

# ---- HTTPS with a self-signed certificate the client was given
sign bob "$WORK/b1.json" --address tcp://192.0.2.3:7001
put bob "$WORK/b1.json" "https://127.0.0.1:$SP"
check "PUT over HTTPS without the CA certificate: curl refuses the server" \
    '[ "$code" = 000 ] || [[ $body == *certificate* ]]'
http PUT "https://127.0.0.1:$SP/.well-known/ni/sha3-256/$bob_b" --cacert "$WORK/tls.crt" \
    --data-binary "@$WORK/b1.json"
check "PUT over HTTPS with curl --cacert: 201" '[ "$code" = 201 ]'
body=$(curl -sS -m 10 --cacert "$WORK/tls.crt" "https://127.0.0.1:$SP/.well-known/ni/sha3-256/$bob_b")
check "GET over HTTPS returns bob's set" '[[ $body == *"tcp://192.0.2.3:7001"* ]]'
get bob
check "... and plain HTTP serves the same store" '[ "$code" = 200 ] && [[ $body == *"tcp://192.0.2.3:7001"* ]]'

# ---- DNS
out=$(d TXT "$alice_dns")
check "dig TXT over UDP: NOERROR, authoritative, one TXT answer" \
    '[[ $out == *"status: NOERROR"* && $out == *" aa"* && $out == *"ANSWER: 1,"* && $out == *"(UDP)"* ]]'
d +short TXT "$alice_dns" >"$WORK/a.txt"
run record verify --txt --fingerprint "$alice_fp" "$WORK/a.txt"
check "the TXT answer re-verifies with record verify --txt (the newer set)" \
    '[ $rc -eq 0 ] && [[ $out == *192.0.2.2:7000* ]]'
sed 's/192\.0\.2\.2/192.0.2.9/' "$WORK/a.txt" >"$WORK/a-bad.txt"
run record verify --txt --fingerprint "$alice_fp" "$WORK/a-bad.txt"
check "a modified TXT answer is refused by the client" \
    '! cmp -s "$WORK/a.txt" "$WORK/a-bad.txt" && [ $rc -eq 1 ] && [[ $err == *"signature does not verify"* ]]'
out=$(d +tcp +short TXT "$alice_dns")
check "dig +tcp gets the same TXT record" '[ "$out" = "$(cat "$WORK/a.txt")" ]'
ttl=$(d +noall +answer TXT "$alice_dns" | awk '{print $2}')
check "the answer TTL is capped (default 300)" '[ -n "$ttl" ] && [ "$ttl" -le 300 ] && [ "$ttl" -gt 0 ]'
out=$(d SOA "$ZONE")
check "SOA at the apex, authoritative" \
    '[[ $out == *"status: NOERROR"* && $out == *" aa"* && $out == *"SOA	ns1.$ZONE. hostmaster.$ZONE."* ]]'
out=$(d +short NS "$ZONE")
check "NS at the apex" '[ "$out" = "ns1.$ZONE." ]'
out=$(d +tcp +keepopen +short "$alice_dns" TXT "$bob_dns" TXT "$ZONE" SOA)
check "several queries over one TCP connection (dig +keepopen)" \
    '[[ $out == *192.0.2.2:7000* && $out == *"tcp://192.0.2.3:7001"* && $out == *"ns1.$ZONE."* ]]'
out=$(d TXT "$carol_dns")
check "an unknown fingerprint's name: NXDOMAIN with the SOA in authority" \
    '[[ $out == *"status: NXDOMAIN"* && $out == *"AUTHORITY: 1"* && $out == *SOA* ]]'
out=$(d A "www.$ZONE")
check "another name in the zone: NXDOMAIN" '[[ $out == *"status: NXDOMAIN"* ]]'
out=$(d A "$alice_dns")
check "another type at a record-set name: NODATA" '[[ $out == *"status: NOERROR"* && $out == *"ANSWER: 0"* ]]'
out=$(d A example.com)
check "a name outside the zone: REFUSED" '[[ $out == *"status: REFUSED"* ]]'

# a set too big for 512 bytes: truncation and the TCP retry
head -c 1000 /dev/urandom >"$WORK/blob"
sign dave "$WORK/d1.json" --address udp://192.0.2.4:7000 --blob "$WORK/blob" --blob "$WORK/blob"
put dave "$WORK/d1.json"
check "a set with two 1000-byte blobs is accepted" '[ "$code" = 201 ]'
out=$(d +noedns +ignore TXT "$dave_dns")
check "without EDNS0 the UDP answer is truncated: TC set, empty answer" \
    '[[ $out == *" tc"* && $out == *"ANSWER: 0"* && $out != *"OPT PSEUDOSECTION"* ]]'
out=$(d +noedns TXT "$dave_dns")
check "... and dig retries over TCP and gets it" \
    '[[ $out == *"Truncated, retrying in TCP mode"* && $out == *"ANSWER: 1,"* && $out == *"(TCP)"* ]]'
out=$(d +bufsize=1232 +ignore TXT "$dave_dns")
check "EDNS0 1232 is still too small: TC, OPT echoed with udp 1232" \
    '[[ $out == *" tc"* && $out == *"udp: 1232"* ]]'
out=$(d +bufsize=4096 TXT "$dave_dns")
check "EDNS0 4096: the whole answer over UDP" \
    '[[ $out != *Truncated* && $out == *"ANSWER: 1,"* && $out == *"(UDP)"* ]]'
d +bufsize=4096 +short TXT "$dave_dns" >"$WORK/d.txt"
run record verify --txt --fingerprint "$dave_fp" "$WORK/d.txt"
check "... and the long TXT record (continuation strings) re-verifies" '[ $rc -eq 0 ]'

# ---- the DNS TTL never outlives the set; expired sets disappear
sign carol "$WORK/c1.json" --address udp://192.0.2.5:7000 --ttl 40 --now $(($(date +%s) - 30))
put carol "$WORK/c1.json"
check "a set with 10 seconds left is accepted" '[ "$code" = 201 ]'
ttl=$(d +noall +answer TXT "$carol_dns" | awk '{print $2}')
check "its DNS TTL is at most its remaining validity" '[ -n "$ttl" ] && [ "$ttl" -le 10 ] && [ "$ttl" -ge 1 ]'
for i in $(seq 1 80); do
    get carol
    [ "$code" = 404 ] && break
    sleep 0.25
done
check "after expiry, HTTP GET gives 404" '[ "$code" = 404 ]'
out=$(d TXT "$carol_dns")
check "... and DNS gives NXDOMAIN" '[[ $out == *"status: NXDOMAIN"* ]]'

# ---- tampering and bad announces, each refused with a clear message
tr -d '\n' <"$WORK/a2.json" | sed 's/192\.0\.2\.2/192.0.2.3/' >"$WORK/t1.json"
put alice "$WORK/t1.json"
check "a one-byte change of the JSON body: 403 bad_signature" \
    '[ "$code" = 403 ] && [[ $body == *bad_signature* && $body == *"signature does not verify"* ]]'
put alice "$WORK/a1.json"
check "a replayed older set: 409 rollback" \
    '[ "$code" = 409 ] && [[ $body == *rollback* && $body == *newer* ]]'
sign alice "$WORK/f.json" --address udp://192.0.2.1:7000 --now $(($(date +%s) + 3600))
put alice "$WORK/f.json"
check "a future-dated set: 422 future" '[ "$code" = 422 ] && [[ $body == *"\"error\":\"future\""* && $body == *"future"* ]]'
sign alice "$WORK/e.json" --address udp://192.0.2.1:7000 --ttl 60 --now $(($(date +%s) - 3600))
put alice "$WORK/e.json"
check "an expired set: 422 expired" '[ "$code" = 422 ] && [[ $body == *"\"error\":\"expired\""* ]]'
put alice "$WORK/b1.json"
check "bob's set under alice's URL: 403" \
    '[ "$code" = 403 ] && [[ $body == *"not by the key this URL names"* ]]'
get alice
check "... and after all that alice's newest set is still served" '[ "$code" = 200 ] && [[ $body == *192.0.2.2:7000* ]]'
printf '{"v":1,' >"$WORK/bad.json"
put alice "$WORK/bad.json"
check "malformed JSON: 400 bad_json" '[ "$code" = 400 ] && [[ $body == *bad_json* ]]'
head -c 30000 /dev/zero | tr '\0' ' ' >"$WORK/big.json"
put alice "$WORK/big.json"
check "a body over 24576 bytes: 413" '[ "$code" = 413 ] && [[ $body == *too_big* ]]'
http DELETE "http://127.0.0.1:$HP/.well-known/ni/sha3-256/$alice_b"
check "DELETE: 405 method_not_allowed" '[ "$code" = 405 ] && [[ $body == *method_not_allowed* ]]'
http GET "http://127.0.0.1:$HP/.well-known/ni/sha3-256/nope"
check "a malformed digest in the path: 400" '[ "$code" = 400 ] && [[ $body == *bad_path* ]]'

# ---- clean stop, restart on the same database
kill -TERM "$SRV"
wait "$SRV"
src=$?
check "SIGTERM stops the directory cleanly (exit 0)" '[ $src -eq 0 ] && grep -q stopped "$WORK/srv.log"'
NLISTEN=3
start "$WORK/srv2.log" --db "$WORK/dir.db" --http 127.0.0.1:0 --dns 127.0.0.1:0 --rate 1 --burst 2
HP=$(port_of "$WORK/srv2.log" http)
DP=$(port_of "$WORK/srv2.log" dns-udp)
get alice
check "after a restart the sets are still there (HTTP)" '[ "$code" = 200 ] && [[ $body == *192.0.2.2:7000* ]]'
out=$(d +short TXT "$bob_dns")
check "... and over DNS" '[[ $out == *"tcp://192.0.2.3:7001"* ]]'
put alice "$WORK/a1.json"
check "... and so is what it refuses as a rollback" '[ "$code" = 409 ]'

# ---- rate limit: --rate 1 --burst 2, the third announce in a row is refused
put alice "$WORK/a2.json"
hdr=$(curl -sS -m 10 -D - -o "$WORK/rl.out" -X PUT --data-binary "@$WORK/a2.json" \
    "http://127.0.0.1:$HP/.well-known/ni/sha3-256/$alice_b")
check "too many announces from one address: 429 with Retry-After" \
    '[[ $hdr == *" 429 "* && $hdr == *"Retry-After: "* ]] && grep -q rate_limited "$WORK/rl.out"'
get alice
check "... while discovery is not limited" '[ "$code" = 200 ]'

# ---- command-line errors
run directory serve --db "$WORK/x.db" --http 127.0.0.1:0
check "serve without --zone: usage error (exit 2)" '[ $rc -eq 2 ] && [[ $err == *--zone* ]]'
printf 'not a database at all, not at all, not at all, not at all, not at all......\n%.0s' $(seq 1 20) >"$WORK/junk.db"
run directory serve --zone "$ZONE" --db "$WORK/junk.db" --http 127.0.0.1:0
check "a database file that is not one: exit 1, says so" '[ $rc -eq 1 ] && [[ $err == *"not an SQLite database"* ]]'

run directory serve --zone "$ZONE" --db "$WORK/y.db" --https 127.0.0.1:0
check "--https without --cert and --key: usage error" '[ $rc -eq 2 ] && [[ $err == *--cert* ]]'
run directory serve --zone "$ZONE" --db "$WORK/y.db" --https 127.0.0.1:0 --cert "$WORK/none.crt" \
    --key "$WORK/tls.key"
check "an unreadable certificate: exit 1, says so" '[ $rc -eq 1 ] && [[ $err == *"cannot read the certificate"* ]]'
run directory serve --zone "$ZONE" --db "$WORK/y.db" --http "127.0.0.1:$HP"
check "an HTTP port in use: exit 1, cannot listen" '[ $rc -eq 1 ] && [[ $err == *"cannot listen"* ]]'
run directory serve --zone "$ZONE" --db "$WORK/y.db" --dns "localhost:53"
check "a DNS address that is not numeric: exit 1, says what is wanted" '[ $rc -eq 1 ] && [[ $err == *"ADDR:PORT"* ]]'
run directory serve --zone 192.0.2.1 --db "$WORK/y.db" --dns 127.0.0.1:0
check "an IP address as the zone: exit 1, says the zone must be a DNS name" '[ $rc -eq 1 ] && [[ $err == *"zone must be a DNS host name"* ]]'

# ---- IPv6 loopback, when the machine has it
kill -TERM "$SRV"
wait "$SRV"
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
    NLISTEN=3
    "$PEERLINK" directory serve --zone "$ZONE" --db "$WORK/dir.db" --http '[::1]:0' --dns '[::1]:0' \
        >/dev/null 2>"$WORK/srv6.log" &
    SRV=$!
    PIDS+=("$SRV")
    for i in $(seq 1 100); do
        [ "$(grep -c 'listening on' "$WORK/srv6.log")" -ge 3 ] && break
        sleep 0.05
    done
    HP6=$(sed -n 's/.*: http listening on \[::1\]:\([0-9]*\)$/\1/p' "$WORK/srv6.log")
    DP6=$(sed -n 's/.*: dns-udp listening on \[::1\]:\([0-9]*\)$/\1/p' "$WORK/srv6.log")
    out=$(curl -sS -m 10 "http://[::1]:$HP6/.well-known/ni/sha3-256/$alice_b")
    out2=$(timeout 20 dig @::1 -p "$DP6" +time=2 +short TXT "$alice_dns")
    check "IPv6: discover over HTTP and DNS on [::1]" '[[ $out == *192.0.2.2:7000* && $out2 == *192.0.2.2:7000* ]]'
else
    skip "IPv6: discover over HTTP and DNS on [::1]" "no IPv6 loopback"
fi

finish
