#!/usr/bin/env bash
# trust.sh - `peerlink trust ...`: allow, deny, remove, list, check; expiry;
# hand-written comments; helpful errors; 20 concurrent edits; separate
# trust stores for separate config homes.
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

plan 52

# Fingerprints of made-up keys: any 32-byte digest names some key.
mapfile -t FP < <(python3 -c '
import base64, os
for _ in range(24):
    print("ni:///sha3-256;" + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode())')
alice=${FP[0]} bob=${FP[1]} carol=${FP[2]} dave=${FP[3]} erin=${FP[4]}
store="$XDG_CONFIG_HOME/peerlink/trust"

run trust list
check "an empty store lists nothing (exit 0)" '[ $rc -eq 0 ] && [ -z "$out" ]'
run trust check "$alice"
check "check of a stranger: unknown, exit 1" '[ $rc -eq 1 ] && [ "$out" = unknown ]'

# ---- add, list, check
run trust add "$alice" --name alice --group lab --group ops
check "trust add with a name and two groups" '[ $rc -eq 0 ]'
check "the store is beside the identity, mode 0600" '[ -f "$store" ] && [ "$(stat -c %a "$store")" = 600 ]'
run trust check "$alice"
check "check: allowed, exit 0" '[ $rc -eq 0 ] && [ "$out" = allowed ]'
run trust list
check "list shows kind, fingerprint, name and groups" \
    '[ "$out" = "allow $alice name=alice groups=lab,ops" ]'
run trust add "$bob" --group lab,dev
run trust list --json
check "list --json: names and groups" \
    '[ $rc -eq 0 ] && python3 - "$out" "$alice" "$bob" <<EOF
import json, sys
l = json.loads(sys.argv[1])
assert len(l) == 2, l
a, b = l
assert a["kind"] == "allow" and a["fingerprint"] == sys.argv[2], a
assert a["name"] == "alice" and a["groups"] == ["lab", "ops"], a
assert a["expires"] is None and a["expired"] is False, a
assert b["fingerprint"] == sys.argv[3] and b["name"] is None and b["groups"] == ["lab", "dev"], b
EOF'
run trust check "ni://dir.example.org/${alice#ni:///}"
check "check ignores the authority of the fingerprint" '[ "$out" = allowed ]'

# ---- deny
run trust deny "$carol" --name mallory
check "trust deny" '[ $rc -eq 0 ]'
run trust check "$carol"
check "check: denied, exit 1" '[ $rc -eq 1 ] && [ "$out" = denied ]'
run trust deny "$alice"
run trust check "$alice"
check "deny wins over an existing allow" '[ $rc -eq 1 ] && [ "$out" = denied ]'
run trust add "$carol" --name carol
check "allowing a denied peer says that deny wins and what to do" \
    '[ $rc -eq 0 ] && [[ $err == *"deny wins"* && $err == *"trust remove $carol"* ]]'
run trust check "$carol"
check "... and it stays denied" '[ "$out" = denied ]'
run trust list
check "list shows the deny entries" \
    '[[ $out == *"deny  $carol name=mallory"* && $out == *"deny  $alice"* ]]'
run trust deny "$dave" --group lab
check "deny --group is a usage error" '[ $rc -eq 2 ]'

# ---- remove
run trust remove "$alice"
check "trust remove" '[ $rc -eq 0 ]'
run trust check "$alice"
check "removes both the allow and the deny entry" '[ "$out" = unknown ]'
run trust remove "$alice"
check "removing a stranger: exit 1, saying so" '[ $rc -eq 1 ] && [[ $err == *"not in the trust store"* ]]'

# ---- expiry
run trust add "$dave" --expires 2001-02-03T04:05:06Z
check "an entry that expired already is accepted, with a note" '[ $rc -eq 0 ] && [[ $err == *expired* ]]'
run trust check "$dave"
check "expiry in the past: unknown" '[ $rc -eq 1 ] && [ "$out" = unknown ]'
run trust list
check "list marks it expired" '[[ $out == *"$dave expired=2001-02-03T04:05:06Z"* ]]'
run trust add "$erin" --expires 2999-12-31T23:59:59Z
run trust check "$erin"
check "expiry in the future: allowed" '[ $rc -eq 0 ] && [ "$out" = allowed ]'
run trust add "$erin" --expires 2030-02-30T00:00:00Z
check "an impossible date is a usage error" '[ $rc -eq 2 ] && [[ $err == *2030-01-31T23:59:59Z* ]]'
run trust add "$erin" --expires tomorrow
check "a date in another form is a usage error" '[ $rc -eq 2 ]'

# ---- bad fingerprints and usage
run trust add 'ni:///sha3-256;tooshort'
check "a bad fingerprint: exit 2" '[ $rc -eq 2 ] && [ -z "$out" ]'
check "... with the parser's reason and an example" \
    '[[ $err == "peerlink: FINGERPRINT '\''ni:///sha3-256;tooshort'\'' is not a fingerprint: "?* &&
       $err == *"A fingerprint looks like ni:///sha3-256;"* && $err == *"peerlink id"* ]]'
run trust add -- "${alice#ni:///sha3-256;}" # (a hash may begin with "-")
check "a bare hash is not a fingerprint either" '[ $rc -eq 2 ] && [[ $err == *"looks like"* ]]'
run trust add
check "trust add without a fingerprint: exit 2" '[ $rc -eq 2 ] && [[ $err == *usage:* ]]'
run trust
check "trust without a command: exit 2, listing them" '[ $rc -eq 2 ] && [[ $err == *check* ]]'
run trust frob
check "an unknown trust command: exit 2" '[ $rc -eq 2 ]'
run trust add "$erin" --name 'has space'
check "a bad pet name is refused with the reason" '[ $rc -eq 2 ] && [[ $err == *name* ]]'

# ---- a file a person edits
hand="$WORK/hand.trust"
cat >"$hand" <<EOF
# Machines in the lab. Ask Pat before adding one.

allow $bob name=lab-printer   groups=lab
# keep this one out
deny $carol
EOF
run -t "$hand" trust add "$alice" --name alice
check "trust add on a hand-written file" '[ $rc -eq 0 ]'
check "... keeps the comments and the blank line" \
    'grep -qx "# Machines in the lab. Ask Pat before adding one." "$hand" &&
     grep -qx "# keep this one out" "$hand" && grep -qx "" "$hand"'
check "... and the entries" \
    'grep -q "^allow $bob name=lab-printer groups=lab$" "$hand" && grep -q "^deny  *$carol$" "$hand" &&
     grep -q "^allow $alice name=alice$" "$hand"'
chmod 666 "$hand"
run -t "$hand" trust list
check "a trust file others can write is refused, with the chmod to run" \
    '[ $rc -eq 1 ] && [ -z "$out" ] && [[ $err == *"chmod 600 $hand"* ]]'
chmod 600 "$hand"
printf 'allow %s\nallow %s frob=1\n' "$bob" "$carol" >"$WORK/broken.trust"
run -t "$WORK/broken.trust" trust list
check "a parse error is reported as PATH:LINE: why" \
    '[ $rc -eq 1 ] && [[ $err == "peerlink: $WORK/broken.trust:2: "?* ]]'
cp "$WORK/broken.trust" "$WORK/broken.copy"
run -t "$WORK/broken.trust" trust add "$erin"
check "... and an edit leaves such a file alone" \
    '[ $rc -eq 1 ] && cmp -s "$WORK/broken.trust" "$WORK/broken.copy"'

# ---- paths
run -t "$WORK/t-opt" trust add "$alice"
check "-t FILE selects the store" '[ -f "$WORK/t-opt" ] && grep -q "$alice" "$WORK/t-opt"'
out=$(PEERLINK_TRUST="$WORK/t-env" "$PEERLINK" trust add "$bob" 2>/dev/null)
check "PEERLINK_TRUST selects the store" '[ -f "$WORK/t-env" ] && grep -q "$bob" "$WORK/t-env"'
run -k "$WORK/keys/k1" trust add "$carol"
check "with -k KEY the default store is beside KEY" '[ -f "$WORK/keys/trust" ]'

out=$(XDG_CONFIG_HOME="$WORK/fresh" "$PEERLINK" trust add "$alice" 2>/dev/null)
check "trust add before any keygen creates the directory (0700) and the store" \
    '[ -f "$WORK/fresh/peerlink/trust" ] && [ "$(stat -c %a "$WORK/fresh/peerlink")" = 700 ]'

# ---- argument edge cases
run trust add "$alice" --name ''
check "trust add --name '' is a usage error (exit 2), not a silent erase" '[ "$rc" -eq 2 ] && [[ "$err" == *"--name needs"* ]]'
run trust add "$alice" --group ''
check "trust add --group '' is a usage error (exit 2)" '[ "$rc" -eq 2 ]'
run trust list --json=x
check "trust list --json=x says the option takes no value (exit 2)" \
    '[ "$rc" -eq 2 ] && [[ "$err" == *"--json takes no value"* ]]'
touch "$WORK/afile"
run -t "$WORK/afile/trust" trust add "$alice"
check "a trust path under a regular file: a real reason, not 'Success'" \
    '[ "$rc" -eq 1 ] && [[ "$err" == *"Not a directory"* ]]'

# ---- a trust path that is a symbolic link: the file it names is updated
mkdir -p "$WORK/sl"
printf '# managed elsewhere\n' >"$WORK/sl/real"
chmod 600 "$WORK/sl/real"
ln -s real "$WORK/sl/trust"
run -t "$WORK/sl/trust" trust add "$alice" --name viaLink
check "trust add through a symlink updates the file it names" \
    '[ "$rc" -eq 0 ] && [ -L "$WORK/sl/trust" ] && grep -q "name=viaLink" "$WORK/sl/real"'
check "... keeping the comment there" 'grep -q "^# managed elsewhere" "$WORK/sl/real"'

# ---- concurrency: 20 adds at once, none lost
conc="$WORK/conc.trust"
for i in $(seq 4 23); do
    "$PEERLINK" -t "$conc" trust add "${FP[$i]}" --name "peer$i" >/dev/null 2>"$WORK/conc.$i.err" &
done
wait
n=$(grep -c '^allow ' "$conc")
check "20 concurrent trust adds: all 20 entries present" '[ "$n" -eq 20 ]'
check "... each once, with its name" \
    '(for i in $(seq 4 23); do [ "$(grep -c "^allow ${FP[$i]} name=peer$i$" "$conc")" -eq 1 ] || exit 1; done)'
check "... and no errors" '! grep -q . "$WORK"/conc.*.err'

# ---- two identities, two config homes, two stores
A="$WORK/alice-home"
B="$WORK/bob-home"
XDG_CONFIG_HOME=$A "$PEERLINK" keygen >/dev/null 2>&1
XDG_CONFIG_HOME=$B "$PEERLINK" keygen >/dev/null 2>&1
XDG_CONFIG_HOME=$A "$PEERLINK" trust add "$bob" --name bob >/dev/null 2>&1
XDG_CONFIG_HOME=$B "$PEERLINK" trust add "$alice" --name alice >/dev/null 2>&1
a_list=$(XDG_CONFIG_HOME=$A "$PEERLINK" trust list 2>/dev/null)
b_list=$(XDG_CONFIG_HOME=$B "$PEERLINK" trust list 2>/dev/null)
check "two config homes: two trust files" '[ -f "$A/peerlink/trust" ] && [ -f "$B/peerlink/trust" ]'
check "... each with only its own entries" \
    '[ "$a_list" = "allow $bob name=bob" ] && [ "$b_list" = "allow $alice name=alice" ]'

finish
