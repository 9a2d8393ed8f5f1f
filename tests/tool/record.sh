#!/usr/bin/env bash
# record.sh - `peerlink record sign|verify`: round trips through both
# carriers, and every way a record set must be refused (tampering, another
# key, expiry, future dates, malformed input).
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

plan 48

A="$WORK/a.key"
B="$WORK/b.key"
"$PEERLINK" -k "$A" keygen >/dev/null 2>&1
"$PEERLINK" -k "$B" keygen >/dev/null 2>&1
fpa=$("$PEERLINK" -k "$A" id)
fpb=$("$PEERLINK" -k "$B" id)
now=$(date +%s)

# ---- sign and verify, JSON
run -k "$A" record sign --address udp://198.51.100.4:7000 --address 'tcp://[2001:db8::1]:7001' \
    --name alice@example.org
printf '%s\n' "$out" >"$WORK/a.json"
check "record sign prints a JSON record set" \
    '[ $rc -eq 0 ] && python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$WORK/a.json"'
check "... with the addresses in order, the default ttl 3600, dated now" \
    'python3 - "$WORK/a.json" "$now" <<EOF
import json, sys
d = json.load(open(sys.argv[1]))
assert d["address"] == ["udp://198.51.100.4:7000", "tcp://[2001:db8::1]:7001"], d
assert d["name"] == ["alice@example.org"] and d["ttl"] == 3600, d
assert abs(d["timestamp"] - int(sys.argv[2])) < 60, d
EOF'
run record verify "$WORK/a.json"
check "record verify FILE accepts it (exit 0)" '[ $rc -eq 0 ]'
check "... and shows fingerprint, dates and addresses" \
    '[[ $out == *"fingerprint  $fpa"* && $out == *signed* && $out == *expires* &&
       $out == *"address      udp://198.51.100.4:7000"* && $out == *"name         alice@example.org"* ]]'
check "... noting that without --fingerprint only integrity is shown" '[[ $err == *--fingerprint* ]]'
run record verify --fingerprint "$fpa" "$WORK/a.json"
check "verify --fingerprint of the signer: exit 0, no note" '[ $rc -eq 0 ] && [ -z "$err" ]'
out=$("$PEERLINK" record verify --fingerprint "$fpa" - <"$WORK/a.json" 2>/dev/null)
check "verify - reads standard input" '[[ $out == *"fingerprint  $fpa"* ]]'
out=$("$PEERLINK" record verify --fingerprint "$fpa" <"$WORK/a.json" 2>/dev/null)
check "verify with no FILE reads standard input" '[[ $out == *"fingerprint  $fpa"* ]]'
run record verify --json --fingerprint "$fpa" "$WORK/a.json"
check "verify --json prints the record set as JSON" \
    '[ $rc -eq 0 ] && python3 -c "import json,sys; assert json.loads(sys.argv[1]) == json.load(open(sys.argv[2]))" "$out" "$WORK/a.json"'
run record verify --fingerprint "ni://dir.example.org/${fpa#ni:///}" "$WORK/a.json"
check "the authority of --fingerprint does not matter" '[ $rc -eq 0 ]'

# ---- refused: another key, tampering
run record verify --fingerprint "$fpb" "$WORK/a.json"
check "verify --fingerprint of another identity: exit 1" '[ $rc -eq 1 ] && [ -z "$out" ]'
check "... signature does not verify, or the record is not by FP" \
    '[ "$err" = "peerlink: signature does not verify, or the record is not by $fpb" ]'
sed 's/198\.51\.100\.4/198.51.100.5/' "$WORK/a.json" >"$WORK/t1.json"
run record verify --fingerprint "$fpa" "$WORK/t1.json"
check "a changed address is refused" \
    '[ $rc -eq 1 ] && [[ $err == *"signature does not verify, or the record is not by $fpa"* ]]'
sed 's/"ttl":3600/"ttl":7200/' "$WORK/a.json" >"$WORK/t2.json"
run record verify --fingerprint "$fpa" "$WORK/t2.json"
check "a changed ttl is refused" '! cmp -s "$WORK/a.json" "$WORK/t2.json" && [ $rc -eq 1 ] &&
    [[ $err == *"signature does not verify"* ]]'
ts=$(sed -n 's/.*"timestamp":\([0-9]*\).*/\1/p' "$WORK/a.json")
sed "s/\"timestamp\":$ts/\"timestamp\":$((ts - 1))/" "$WORK/a.json" >"$WORK/t3.json"
run record verify --fingerprint "$fpa" "$WORK/t3.json"
check "a timestamp moved back one second is refused" '! cmp -s "$WORK/a.json" "$WORK/t3.json" &&
    [ $rc -eq 1 ] && [[ $err == *"signature does not verify"* ]]'
sed "s/\"timestamp\":$ts/\"timestamp\":$((ts + 86400))/" "$WORK/a.json" >"$WORK/t4.json"
run record verify --fingerprint "$fpa" "$WORK/t4.json"
check "a forged future date is called a bad signature, not a clock problem" \
    '[ $rc -eq 1 ] && [[ $err == *"signature does not verify"* ]]'
sed 's/"name":\["alice@example.org"\]/"name":["mallory@example.org"]/' "$WORK/a.json" >"$WORK/t5.json"
run record verify "$WORK/t5.json"
check "a changed name is refused even without --fingerprint" \
    '! cmp -s "$WORK/a.json" "$WORK/t5.json" && [ $rc -eq 1 ] &&
     [[ $err == *"signature does not verify"* ]]'

# ---- time
run -k "$A" record sign --address udp://198.51.100.4:7000 --now $((now - 7200)) --ttl 3600
printf '%s\n' "$out" >"$WORK/old.json"
run record verify --fingerprint "$fpa" "$WORK/old.json"
check "a record set signed 2 h ago with ttl 3600 is expired (exit 1)" '[ $rc -eq 1 ]'
check "... expired at TIME, N seconds ago: ask the node to re-announce" \
    '[[ $err =~ expired\ at\ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z,\ 3[0-9]{3}\ seconds\ ago:\ ask\ the\ node\ to\ re-announce ]]'
run record verify --fingerprint "$fpa" --now $((now - 5400)) "$WORK/old.json"
check "... and valid at a time within its ttl (--now)" '[ $rc -eq 0 ]'
"$PEERLINK" -k "$A" record sign --address udp://198.51.100.4:7000 --ttl 1 >"$WORK/short.json"
sleep 2
run record verify --fingerprint "$fpa" "$WORK/short.json"
check "a --ttl 1 record set is expired 2 seconds later" '[ $rc -eq 1 ] && [[ $err == *expired* ]]'
run record verify --fingerprint "$fpa" --now $((now - 3600)) "$WORK/a.json"
check "a record set from an hour ahead is future-dated (exit 1)" \
    '[ $rc -eq 1 ] && [[ $err == *"dated in the future"* && $err == *clock* ]]'
run record verify --fingerprint "$fpa" --now $((now - 3600)) --skew 7200 "$WORK/a.json"
check "... and accepted with a larger --skew" '[ $rc -eq 0 ]'

# ---- malformed input
printf '{"v":1,"public_key":"x"}\n' >"$WORK/bad.json"
run record verify "$WORK/bad.json"
check "malformed JSON: exit 1 with the decoder's reason" \
    '[ $rc -eq 1 ] && [[ $err == "peerlink: $WORK/bad.json does not hold a valid record set: "?* ]]'
printf 'hello\n' >"$WORK/bad2.json"
run record verify "$WORK/bad2.json"
check "text that is not JSON: exit 1" '[ $rc -eq 1 ] && [[ $err == *"not hold a valid record set"* ]]'
run record verify "$WORK/missing.json"
check "a missing file: exit 1, naming it" '[ $rc -eq 1 ] && [[ $err == *"$WORK/missing.json"* ]]'

# ---- TXT carrier
run -k "$A" record sign --txt --address udp://198.51.100.4:7000 --name 'quote"back\slash'
printf '%s\n' "$out" >"$WORK/a.txt"
check "sign --txt prints quoted character-strings" \
    '[ $rc -eq 0 ] && [[ $out == \"v=pl1\"\ * ]] && [[ $out == *\"n=quote\\\"back\\\\slash\"* ]]'
run record verify --txt --fingerprint "$fpa" "$WORK/a.txt"
check "verify --txt accepts it, escapes included" \
    '[ $rc -eq 0 ] && [[ $out == *"name         quote\"back\\slash"* ]]'
tr ' ' '\n' <"$WORK/a.txt" >"$WORK/split.txt"
run record verify --txt --fingerprint "$fpa" "$WORK/split.txt"
check "verify --txt takes the strings split across lines" '[ $rc -eq 0 ]'
{ echo '( ; as in a zone file'; cat "$WORK/a.txt"; echo ')'; } >"$WORK/paren.txt"
run record verify --txt --fingerprint "$fpa" "$WORK/paren.txt"
check "... and in zone-file parentheses with a comment" '[ $rc -eq 0 ]'
sed 's/"v=pl1" "pk=\([^"]*\)"/"\\118=pl1" pk=\1/' "$WORK/a.txt" >"$WORK/esc.txt"
run record verify --txt --fingerprint "$fpa" "$WORK/esc.txt"
check "... and \\DDD escapes and bare strings" \
    '[[ $(cat "$WORK/esc.txt") == \"\\118=pl1\"\ pk=* ]] && [ $rc -eq 0 ]'
sed 's/198\.51\.100\.4/198.51.100.5/' "$WORK/a.txt" >"$WORK/t.txt"
run record verify --txt --fingerprint "$fpa" "$WORK/t.txt"
check "a TXT form with one byte altered is refused" \
    '! cmp -s "$WORK/a.txt" "$WORK/t.txt" && [ $rc -eq 1 ] && [[ $err == *"signature does not verify"* ]]'
run record verify --txt --fingerprint "$fpb" "$WORK/a.txt"
check "a TXT form checked against another fingerprint is refused" '[ $rc -eq 1 ]'
printf '"v=pl1" "unterminated\n' >"$WORK/bad.txt"
run record verify --txt "$WORK/bad.txt"
check "broken presentation text: exit 1 with the reason" \
    '[ $rc -eq 1 ] && [[ $err == *"not closed"* ]]'
run record verify --txt "$WORK/a.json"
check "JSON given to --txt: a hint to drop --txt" '[ $rc -eq 1 ] && [[ $err == *"drop --txt"* ]]'

# ---- relays, blobs, templates
printf 'blob bytes' >"$WORK/blob"
run -k "$A" record sign --relay "$fpb" --blob "$WORK/blob" --address udp://192.0.2.1:7000
printf '%s\n' "$out" >"$WORK/c.json"
run record verify --fingerprint "$fpa" "$WORK/c.json"
check "relays and blobs are signed and shown" \
    '[ $rc -eq 0 ] && [[ $out == *"relay        $fpb"* && $out == *"blob         10 bytes"* ]]'
head -c 1025 /dev/zero >"$WORK/big"
run -k "$A" record sign --blob "$WORK/big"
check "a blob over 1024 bytes is refused" '[ $rc -ne 0 ] && [[ $err == *1024* ]]'
cat >"$WORK/tmpl.json" <<EOF
{"address": ["udp://203.0.113.9:7000"], "name": ["bob@example.org"], "ttl": 600,
 "relay": ["$fpb"], "blob": ["AAEC"]}
EOF
run -k "$A" record sign --in "$WORK/tmpl.json" --address tcp://203.0.113.9:7001
printf '%s\n' "$out" >"$WORK/t.json"
check "--in TEMPLATE: template fields first, then the flags'; its ttl" \
    '[ $rc -eq 0 ] && python3 - "$WORK/t.json" "$fpb" <<EOF
import json, sys
d = json.load(open(sys.argv[1]))
assert d["address"] == ["udp://203.0.113.9:7000", "tcp://203.0.113.9:7001"], d
assert d["name"] == ["bob@example.org"] and d["relay"] == [sys.argv[2]] and d["ttl"] == 600, d
EOF'
out=$("$PEERLINK" -k "$A" record sign --in - --ttl 60 <"$WORK/tmpl.json" 2>/dev/null)
check "--in - reads the template from stdin; --ttl overrides its ttl" \
    'python3 -c "import json,sys; assert json.loads(sys.argv[1])[\"ttl\"] == 60" "$out"'
run record verify --fingerprint "$fpa" "$WORK/t.json"
check "a record set made from a template verifies" '[ $rc -eq 0 ] && [[ $out == *"blob         3 bytes"* ]]'
echo '{"adress": ["udp://203.0.113.9:7000"]}' >"$WORK/typo.json"
run -k "$A" record sign --in "$WORK/typo.json"
check "a template with an unknown field is refused, naming it" \
    '[ $rc -eq 1 ] && [[ $err == *adress* ]] && [ -z "$out" ]'

# ---- usage errors
run -k "$A" record sign --ttl 0
check "--ttl 0 is a usage error" '[ $rc -eq 2 ]'
run -k "$A" record sign --ttl 12abc
check "--ttl 12abc is a usage error" '[ $rc -eq 2 ]'
run -k "$A" record sign --ttl 604801
check "--ttl above 7 days is a usage error" '[ $rc -eq 2 ] && [[ $err == *604800* ]]'
run -k "$A" record sign --address 'not a uri'
check "a bad address is refused with the reason" '[ $rc -eq 2 ] && [[ $err == *"not a uri"* ]]'
run -k "$A" record sign --relay ni:///sha3-256
check "a bad relay fingerprint gets an example of the right form" \
    '[ $rc -eq 2 ] && [[ $err == *"A fingerprint looks like ni:///sha3-256;"* ]]'
run -k "$WORK/nokey" record sign --address udp://192.0.2.1:7000
check "sign without an identity says to run keygen" '[ $rc -eq 1 ] && [[ $err == *"peerlink keygen"* ]]'

run record sign --now 9007199254740992
check "record sign --now past 2^53-1 is a usage error with the range (exit 2)" \
    '[ "$rc" -eq 2 ] && [[ "$err" == *"9007199254740991"* ]]'

finish
