#!/usr/bin/env bash
# directory_e2e.sh - our client against our directory: `peerlink announce`
# and `peerlink discover` (both carriers) against `peerlink directory serve`
# on loopback, with `curl` and `dig` looking at the same server, a DNS proxy
# that changes one byte of each answer, a replayed older set, renewal with
# --keep and expiry. Every process runs under `timeout`; each node has its
# own config home under $WORK; the directory binds port 0.
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

plan 17

HELPERS="$(dirname "${BASH_SOURCE[0]}")/helpers"
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
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY

node() {
    mkdir -p "$WORK/$1"
    XDG_CONFIG_HOME="$WORK/$1" "$PEERLINK" keygen >/dev/null || exit 1
    printf -v "${1}_fp" '%s' "$(XDG_CONFIG_HOME="$WORK/$1" "$PEERLINK" id --authority "$ZONE")"
}
as() {
    local who=$1
    shift
    XDG_CONFIG_HOME="$WORK/$who" timeout 20 "$PEERLINK" "$@"
}
run_as() { # run_as NAME ARGS...: sets $rc, $out, $err
    local who=$1
    shift
    out=$(XDG_CONFIG_HOME="$WORK/$who" timeout 20 "$PEERLINK" "$@" 2>"$WORK/.stderr" </dev/null)
    rc=$?
    err=$(cat "$WORK/.stderr")
}
# start_dir: the directory on free ports; sets DPID, HP (HTTP), DP (DNS)
start_dir() {
    "$PEERLINK" directory serve --zone "$ZONE" --db "$WORK/dir.db" --http 127.0.0.1:0 \
        --dns 127.0.0.1:0 >/dev/null 2>"$WORK/dir.log" &
    DPID=$!
    PIDS+=($DPID)
    for _ in $(seq 1 100); do
        [ "$(grep -c 'listening on' "$WORK/dir.log" 2>/dev/null)" -ge 3 ] && break
        sleep 0.05
    done
    HP=$(sed -n 's/.*: http listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/dir.log" | head -1)
    DP=$(sed -n 's/.*: dns-udp listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/dir.log" | head -1)
    [ -n "$HP" ] && [ -n "$DP" ]
}
b64() { printf '%s' "${1##*;}"; }

node alice
node bob
start_dir || { diag "the directory did not start: $(cat "$WORK/dir.log")"; exit 1; }
DIR="http://127.0.0.1:$HP"

# ---- announce, then discover over each carrier
run_as alice announce --directory "$DIR" --address tcp://198.51.100.4:7001 --name alice --ttl 600
check "alice announces to the directory (exit 0)" '[ $rc -eq 0 ]'
run_as bob discover "$alice_fp" --via dns --dns-server "127.0.0.1:$DP"
check "bob discovers alice over DNS from the directory, verified" \
    '[ $rc -eq 0 ] && [[ $out == *"tcp://198.51.100.4:7001"* && $out == *alice* ]]'
run_as bob discover "$alice_fp" --via https --directory "$DIR"
check "... and over HTTP" '[ $rc -eq 0 ] && [[ $out == *"tcp://198.51.100.4:7001"* ]]'
run_as bob discover "$alice_fp" --via any --directory "$DIR" --dns-server "127.0.0.1:$DP" --json
json_any=$out
body=$(timeout 10 curl -sf "$DIR/.well-known/ni/sha3-256/$(b64 "$alice_fp")")
check "--via any --json gives the set the directory serves to curl" \
    '[ $rc -eq 0 ] && python3 -c "import json,sys; sys.exit(json.loads(sys.argv[1]) != json.loads(sys.argv[2]))" "$json_any" "$body"'
# dig sees the same set: the TXT answer verifies with peerlink record verify
dns_name=$(python3 - "$alice_fp" <<'EOF'
import base64, sys
b = sys.argv[1].split(";")[1]
d = base64.urlsafe_b64decode(b + "=" * (-len(b) % 4)).hex()
print(f"{d[:32]}.{d[32:]}.0a.dir.test")
EOF
)
txt=$(timeout 10 dig +short -p "$DP" @127.0.0.1 "$dns_name" TXT)
printf '%s\n' "$txt" >"$WORK/answer.txt"
run_as bob record verify --txt "$WORK/answer.txt" --fingerprint "$alice_fp"
check "dig's TXT answer from the directory verifies as alice's set" '[ $rc -eq 0 ]'

# ---- tampering on the way: one byte of the DNS answer changed
python3 "$HELPERS/dnsproxy.py" "$DP" "$WORK/proxy.port" 198.51.100.4 198.51.100.5 &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$WORK/proxy.port" ] && break; sleep 0.05; done
run_as bob discover "$alice_fp" --via dns --dns-server "127.0.0.1:$(cat "$WORK/proxy.port")"
check "a TXT answer with one byte changed on the way is refused (exit 1), saying why" \
    '[ $rc -eq 1 ] && [[ $err == *"does not verify"* ]] && [[ $out != *198.51.100.5* ]]'

# ---- a newer set replaces the old; the old one replayed is refused
old_body=$body
sleep 1.1 # a later timestamp (seconds)
run_as alice announce --directory "$DIR" --address tcp://198.51.100.9:7001 --name alice --ttl 600
check "alice announces a newer set (new address)" '[ $rc -eq 0 ]'
code=$(printf '%s' "$old_body" | timeout 10 curl -s -o "$WORK/replay.json" -w '%{http_code}' \
    -X PUT --data-binary @- "$DIR/.well-known/ni/sha3-256/$(b64 "$alice_fp")")
check "the older set PUT again is refused by the directory (409) with a JSON reason" \
    '[ "$code" = 409 ] && python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not d.get(\"error\"))" "$WORK/replay.json"'
run_as bob discover "$alice_fp" --via dns --dns-server "127.0.0.1:$DP"
check "discover (DNS) shows the newer set only" \
    '[ $rc -eq 0 ] && [[ $out == *198.51.100.9* && $out != *198.51.100.4* ]]'
run_as bob discover "$alice_fp" --via https --directory "$DIR"
check "discover (HTTP) shows the newer set only" \
    '[ $rc -eq 0 ] && [[ $out == *198.51.100.9* && $out != *198.51.100.4* ]]'

# ---- a set for another fingerprint under alice's name: refused by the directory
bob_body=$(XDG_CONFIG_HOME="$WORK/bob" timeout 10 "$PEERLINK" record sign --address tcp://192.0.2.1:1 --ttl 600)
code=$(printf '%s' "$bob_body" | timeout 10 curl -s -o "$WORK/foreign.json" -w '%{http_code}' \
    -X PUT --data-binary @- "$DIR/.well-known/ni/sha3-256/$(b64 "$alice_fp")")
check "bob's set PUT under alice's URL is refused (403)" '[ "$code" = 403 ]'

# ---- unknown names
run_as alice discover "$bob_fp" --via dns --dns-server "127.0.0.1:$DP"
check "discover of a node that never announced: exit 1, not found (DNS)" \
    '[ $rc -eq 1 ] && [[ $err == *"not found"* || $err == *NXDOMAIN* ]]'
run_as alice discover "$bob_fp" --via https --directory "$DIR"
check "... and over HTTP" '[ $rc -eq 1 ] && [[ $err == *"not found"* || $err == *404* ]]'

# ---- renewal: --keep re-announces before expiry (ttl 6 s: every 4 s)
XDG_CONFIG_HOME="$WORK/bob" timeout -k 5 30 "$PEERLINK" announce --directory "$DIR" \
    --address udp://192.0.2.7:7000 --ttl 6 --keep >/dev/null 2>"$WORK/keep.err" &
kpid=$!
PIDS+=($kpid)
first=""
for _ in $(seq 1 100); do
    first=$(timeout 10 curl -sf "$DIR/.well-known/ni/sha3-256/$(b64 "$bob_fp")" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["timestamp"])' 2>/dev/null) && [ -n "$first" ] && break
    sleep 0.1
done
later=$first
for _ in $(seq 1 90); do # up to 9 s for a renewal
    sleep 0.1
    later=$(timeout 10 curl -sf "$DIR/.well-known/ni/sha3-256/$(b64 "$bob_fp")" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["timestamp"])' 2>/dev/null)
    [ -n "$later" ] && [ -n "$first" ] && [ "$later" -gt "$first" ] && break
done
check "announce --keep renews bob's set before it expires (timestamp $first -> $later)" \
    '[ -n "$first" ] && [ -n "$later" ] && [ "$later" -gt "$first" ]'
sleep 2.5 # past the first set's 6 s, still within the renewed one
run_as alice discover "$bob_fp" --via dns --dns-server "127.0.0.1:$DP"
check "... and discover still finds it after the first set's expiry" '[ $rc -eq 0 ]'
# One SIGTERM, to peerlink itself: signalling `timeout` would relay it to
# the process group a second time, and a second signal arriving while
# LeakSanitizer stops the world at exit (ASan builds) deadlocks it.
kill -TERM "$(pgrep -P $kpid)" 2>/dev/null || kill -TERM $kpid 2>/dev/null
wait $kpid
krc=$?
check "--keep stops cleanly on SIGTERM (exit 0)" '[ $krc -eq 0 ]'

# ---- expiry: without renewal the set disappears from both carriers
run_as alice announce --directory "$DIR" --address tcp://198.51.100.4:1 --ttl 2
sleep 3.2
run_as bob discover "$alice_fp" --via dns --dns-server "127.0.0.1:$DP"
dns_rc=$rc
run_as bob discover "$alice_fp" --via https --directory "$DIR"
check "an expired set is gone from DNS and HTTP (both exit 1)" '[ $dns_rc -eq 1 ] && [ $rc -eq 1 ]'

finish
