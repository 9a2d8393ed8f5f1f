#!/usr/bin/env bash
# id.sh - `peerlink id`: the fingerprint, recomputed independently in
# python3 from --json's public key; the derived DNS name and URL; and the QR
# code, decoded back with zbarimg when it is installed (zbar-tools).
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

plan 20

fp_re='^ni:///sha3-256;[A-Za-z0-9_-]{43}$'
"$PEERLINK" keygen >/dev/null 2>&1

run id
check "id prints one fingerprint in ni:///sha3-256;B form" '[ $rc -eq 0 ] && [[ $out =~ $fp_re ]]'
fp=$out
b64=${fp#ni:///sha3-256;}

# ---- --json, checked against an independent computation
run id --json
json=$out
check "id --json exits 0 with valid JSON" \
    '[ $rc -eq 0 ] && python3 -c "import json,sys; json.loads(sys.argv[1])" "$json"'

# Prints: fingerprint, B recomputed from public_key, then the raw key length.
recompute() {
    python3 - "$1" <<'EOF'
import base64, hashlib, json, sys
d = json.loads(sys.argv[1])
pk64 = d["public_key"]
pk = base64.urlsafe_b64decode(pk64 + "=" * (-len(pk64) % 4))
der = bytes.fromhex("302a300506032b6570032100") + pk
b = base64.urlsafe_b64encode(hashlib.sha3_256(der).digest()).rstrip(b"=").decode()
print(d["fingerprint"])
print(b)
print(len(pk), "=" in pk64)
EOF
}
mapfile -t r < <(recompute "$json")
check "--json fingerprint is what id prints" '[ "${r[0]}" = "$fp" ]'
check "public_key is 32 bytes of unpadded base64url" '[ "${r[2]}" = "32 False" ]'
check "SHA3-256 of the DER SubjectPublicKeyInfo gives the same fingerprint" \
    '[ "${r[1]}" = "$b64" ]'

# Expected derived forms, computed here from the digest.
hex=$(python3 -c 'import base64,sys; s=sys.argv[1]; print(base64.urlsafe_b64decode(s+"="*(-len(s)%4)).hex())' "$b64")
jget() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("null" if v is None else v)' "$1" "$2"; }

run id --authority dir.example.org
check "id --authority puts the authority in the fingerprint" \
    '[ $rc -eq 0 ] && [ "$out" = "ni://dir.example.org/sha3-256;$b64" ]'
run id --json --authority dir.example.org
json=$out
check "--json fingerprint carries the authority" \
    '[ "$(jget "$json" fingerprint)" = "ni://dir.example.org/sha3-256;$b64" ]'
check "--json dns_name is HEX[0..32].HEX[32..64].0a.HOST" \
    '[ "$(jget "$json" dns_name)" = "${hex:0:32}.${hex:32:32}.0a.dir.example.org" ]'
check "--json well_known_url is https://HOST/.well-known/ni/sha3-256/B" \
    '[ "$(jget "$json" well_known_url)" = "https://dir.example.org/.well-known/ni/sha3-256/$b64" ]'
run id --json --authority dir.example.org:8443
json=$out
check "with a port: the DNS name drops it, the URL keeps it" \
    '[ "$(jget "$json" dns_name)" = "${hex:0:32}.${hex:32:32}.0a.dir.example.org" ] &&
     [ "$(jget "$json" well_known_url)" = "https://dir.example.org:8443/.well-known/ni/sha3-256/$b64" ]'
run id --json
check "without an authority: no dns_name, no well_known_url" \
    '[ "$(jget "$out" dns_name)" = null ] && [ "$(jget "$out" well_known_url)" = null ]'
run id --authority 'bad host!'
check "a bad authority is a usage error with the reason" \
    '[ $rc -eq 2 ] && [[ $err == *"bad host!"* ]] && [ -z "$out" ]'

# ---- --qr
# Turns the half-block art back into a PGM image (4 pixels per module).
# ink_is_light: 1 for the default drawing, 0 for --invert.
qr_to_pgm() {
    python3 - "$1" "$2" "$3" <<'EOF'
import sys
art, ink_is_light, out = open(sys.argv[1], encoding="utf-8").read(), sys.argv[2] == "1", sys.argv[3]
cells = {" ": (0, 0), "\u2580": (1, 0), "\u2584": (0, 1), "\u2588": (1, 1)}
lines = [l for l in art.split("\n") if l and all(c in cells for c in l)]
rows = []
for l in lines:
    top, bottom = zip(*(cells[c] for c in l))
    rows += [top, bottom]
S = 4
pix = bytearray()
for r in rows:
    line = bytearray()
    for ink in r:
        light = ink if ink_is_light else 1 - ink
        line += bytes([255 if light else 0]) * S
    pix += bytes(line) * S
with open(out, "wb") as f:
    f.write(b"P5\n%d %d\n255\n" % (len(rows[0]) * S, len(rows) * S) + bytes(pix))
print(len(lines), len(lines[0]) if lines else 0)
EOF
}

run id --qr
printf '%s\n' "$out" >"$WORK/qr.txt"
check "id --qr draws with half blocks and ends with the fingerprint" \
    '[ $rc -eq 0 ] && grep -q "▀\|▄" "$WORK/qr.txt" && [ "$(tail -n 1 "$WORK/qr.txt")" = "$fp" ]'
# The quiet zone: 4 light modules = the first 2 text rows all full blocks
# (the default draws light modules as ink), and 4 full blocks on each side.
# The top row of finder patterns starts right after it: blank (dark) cells.
art_lines=$(($(wc -l <"$WORK/qr.txt") - 1))
check "the code has a quiet zone of 4 modules" \
    '[[ $(sed -n 1p "$WORK/qr.txt") =~ ^█+$ ]] && [[ $(sed -n 2p "$WORK/qr.txt") =~ ^█+$ ]] &&
     [[ $(sed -n 3p "$WORK/qr.txt") =~ ^████\ .*\ ████$ ]] &&
     [[ $(sed -n "$((art_lines - 1)),${art_lines}p" "$WORK/qr.txt" | tr -d "\n") =~ ^█+$ ]]'
if command -v zbarimg >/dev/null 2>&1; then
    qr_to_pgm "$WORK/qr.txt" 1 "$WORK/qr.pgm" >/dev/null
    decoded=$(zbarimg --raw -q "$WORK/qr.pgm" 2>/dev/null)
    check "zbarimg reads the fingerprint back from the QR art" '[ "$decoded" = "$fp" ]'
    run id --qr --authority dir.example.org
    printf '%s\n' "$out" >"$WORK/qr2.txt"
    qr_to_pgm "$WORK/qr2.txt" 1 "$WORK/qr2.pgm" >/dev/null
    decoded=$(zbarimg --raw -q "$WORK/qr2.pgm" 2>/dev/null)
    check "... and the fingerprint with its authority" \
        '[ "$decoded" = "ni://dir.example.org/sha3-256;$b64" ]'
    run id --qr --invert
    printf '%s\n' "$out" >"$WORK/qr3.txt"
    qr_to_pgm "$WORK/qr3.txt" 0 "$WORK/qr3.pgm" >/dev/null
    decoded=$(zbarimg --raw -q "$WORK/qr3.pgm" 2>/dev/null)
    check "... and the --invert drawing (ink on dark modules)" '[ "$decoded" = "$fp" ]'
else
    skip "zbarimg reads the fingerprint back from the QR art" "zbarimg missing"
    skip "... and the fingerprint with its authority" "zbarimg missing"
    skip "... and the --invert drawing (ink on dark modules)" "zbarimg missing"
fi
run id --qr --json
check "--qr with --json is a usage error" '[ $rc -eq 2 ]'

# ---- no identity
rm -f "$XDG_CONFIG_HOME/peerlink/identity"
run id
check "id without an identity: exit 1, nothing on stdout" '[ $rc -eq 1 ] && [ -z "$out" ]'
check "... and the message says to run keygen" \
    '[ "$err" = "peerlink: no identity at $XDG_CONFIG_HOME/peerlink/identity: run \`peerlink keygen\` first" ]'

finish
