#!/usr/bin/env bash
# directory_durability.sh - announces the directory acknowledged survive a
# kill -9 under load. Four curl loops announce 160 distinct record sets
# concurrently and log which ones got a 2xx; once a good share is
# acknowledged the directory is killed with SIGKILL mid-load; restarted
# on the same database it must serve every acknowledged set, byte for byte
# as it acknowledged it.
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

plan 5

ZONE=dir.test
WORKERS=4
PER=40
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

start() { # LOG: directory on a free port; sets $SRV and $HP
    "$PEERLINK" directory serve --zone "$ZONE" --db "$WORK/dir.db" \
        --http 127.0.0.1:0 --rate 0 >/dev/null 2>"$1" &
    SRV=$!
    PIDS+=("$SRV")
    local i
    for i in $(seq 1 100); do
        HP=$(sed -n 's/.*: http listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$1")
        [ -n "$HP" ] && return 0
        sleep 0.05
    done
    return 1
}

# Keys and signed sets, made before the load: w<W>-<I>.{key,json,b}.
for w in $(seq 1 $WORKERS); do
    for i in $(seq 1 $PER); do
        k="$WORK/w$w-$i"
        "$PEERLINK" -k "$k.key" keygen >/dev/null 2>&1 || exit 1
        "$PEERLINK" -k "$k.key" record sign --address "udp://192.0.2.$w:$((7000 + i))" >"$k.json" || exit 1
        fp=$("$PEERLINK" -k "$k.key" id)
        printf '%s' "${fp##*;}" >"$k.b"
    done
done

start "$WORK/srv.log"
check "the directory starts" '[ -n "$HP" ]'

# worker W: announce its sets one after another; log "I CODE".
worker() {
    local w=$1 i k code
    for i in $(seq 1 $PER); do
        k="$WORK/w$w-$i"
        code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X PUT --data-binary "@$k.json" \
            "http://127.0.0.1:$HP/.well-known/ni/sha3-256/$(cat "$k.b")")
        echo "$i $code" >>"$WORK/acks.$w"
    done
}
for w in $(seq 1 $WORKERS); do
    : >"$WORK/acks.$w"
    worker "$w" &
    PIDS+=($!)
done
acked() { cat "$WORK"/acks.* | grep -c ' 2[0-9][0-9]$'; }
for i in $(seq 1 400); do
    [ "$(acked)" -ge 40 ] && break
    sleep 0.01
done
kill -9 "$SRV"
wait "$SRV" 2>/dev/null
for p in "${PIDS[@]:1}"; do
    wait "$p" 2>/dev/null
done
n_acked=$(acked)
n_total=$((WORKERS * PER))
diag "acknowledged before kill -9: $n_acked of $n_total announces"
check "some announces were acknowledged before the kill" '[ "$n_acked" -ge 1 ]'
check "the kill came mid-load (some announces were not acknowledged)" '[ "$n_acked" -lt "$n_total" ]'

PIDS=()
start "$WORK/srv2.log"
check "the directory restarts on the same database" '[ -n "$HP" ]'
missing=0
for w in $(seq 1 $WORKERS); do
    while read -r i code; do
        case $code in 2??) ;; *) continue ;; esac
        k="$WORK/w$w-$i"
        got=$(curl -s -m 5 "http://127.0.0.1:$HP/.well-known/ni/sha3-256/$(cat "$k.b")")
        if [ "$got" != "$(tr -d '\n' <"$k.json")" ]; then
            missing=$((missing + 1))
            diag "lost: worker $w set $i"
        fi
    done <"$WORK/acks.$w"
done
check "every acknowledged set is there after the restart, unchanged" '[ "$missing" -eq 0 ]'
finish
