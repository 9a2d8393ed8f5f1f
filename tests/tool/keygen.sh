#!/usr/bin/env bash
# keygen.sh - `peerlink keygen`, key paths and permissions, and --help for
# every command.
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

HELP_CMDS=("keygen" "id" "trust" "trust add" "trust deny" "trust remove" "trust list"
    "trust check" "record" "record sign" "record verify")
plan $((29 + ${#HELP_CMDS[@]}))

key="$XDG_CONFIG_HOME/peerlink/identity"
fp_re='^ni:///sha3-256;[A-Za-z0-9_-]{43}$'

# ---- the default path
run keygen
check "keygen succeeds" '[ $rc -eq 0 ]'
check "keygen prints the path and the fingerprint" \
    '[[ $out == *"$key"* ]] && grep -Eq "^fingerprint: ni:///sha3-256;[A-Za-z0-9_-]{43}$" <<<"$out"'
first_fp=$(sed -n 's/^fingerprint: //p' <<<"$out")
check "the key file has mode 0600" '[ "$(stat -c %a "$key")" = 600 ]'
check "its directory has mode 0700" '[ "$(stat -c %a "$(dirname "$key")")" = 700 ]'
run id
check "id prints the fingerprint keygen printed" '[ $rc -eq 0 ] && [ "$out" = "$first_fp" ]'

# ---- no silent overwrite
run keygen
check "a second keygen is refused (exit 1)" '[ $rc -eq 1 ]'
check "the refusal names the file and --force" '[[ $err == *"$key"* && $err == *--force* ]]'
run id
check "the refused keygen left the key alone" '[ "$out" = "$first_fp" ]'
run keygen --force
check "keygen --force succeeds" '[ $rc -eq 0 ]'
run id
check "keygen --force made a new key" '[[ $out =~ $fp_re ]] && [ "$out" != "$first_fp" ]'

# ---- -k and PEERLINK_KEY
other="$WORK/elsewhere/sub/key"
run -k "$other" keygen
check "-k FILE creates the key there" '[ $rc -eq 0 ] && [ -f "$other" ]'
check "... with mode 0600 in a 0700 directory" \
    '[ "$(stat -c %a "$other")" = 600 ] && [ "$(stat -c %a "$(dirname "$other")")" = 700 ]'
other_fp=$(sed -n 's/^fingerprint: //p' <<<"$out")
run -k "$other" id
check "-k FILE is the key id reads" '[ "$out" = "$other_fp" ] && [ "$out" != "$first_fp" ]'
run --key="$other" id
check "--key=FILE works too" '[ "$out" = "$other_fp" ]'
out=$(PEERLINK_KEY="$other" "$PEERLINK" id 2>/dev/null)
check "PEERLINK_KEY selects the key" '[ "$out" = "$other_fp" ]'
envkey="$WORK/env/key"
out=$(PEERLINK_KEY="$envkey" "$PEERLINK" keygen 2>/dev/null)
check "PEERLINK_KEY is where keygen writes" '[ -f "$envkey" ] && [[ $out == *"$envkey"* ]]'
out=$(PEERLINK_KEY="$envkey" "$PEERLINK" -k "$other" id 2>/dev/null)
check "-k wins over PEERLINK_KEY" '[ "$out" = "$other_fp" ]'

# ---- refused key files
run -k "$WORK/none/identity" id
check "a missing key: exit 1" '[ $rc -eq 1 ]'
check "... says where and to run keygen" \
    '[[ $err == *"no identity at $WORK/none/identity: run \`peerlink keygen\` first"* ]]'
chmod 644 "$other"
run -k "$other" id
check "a key readable by others is refused" '[ $rc -eq 1 ] && [ -z "$out" ]'
check "... with the chmod 600 to run" '[[ $err == *"chmod 600 $other"* ]]'
chmod 600 "$other"
printf 'this is not a key\n' >"$WORK/garbage"
chmod 600 "$WORK/garbage"
run -k "$WORK/garbage" id
check "garbage in the key file is refused" '[ $rc -eq 1 ] && [ -z "$out" ]'
check "... saying why, and how to make a new one" \
    '[[ $err == "peerlink: cannot use $WORK/garbage as an identity key: "?*"keygen --force"* ]]'

# ---- usage errors and help
run frobnicate
check "an unknown command exits 2" '[ $rc -eq 2 ] && [[ $err == *"peerlink help"* ]]'
run keygen --frobnicate
check "an unknown option exits 2" '[ $rc -eq 2 ] && [[ $err == *--frobnicate* ]]'
run --help
check "peerlink --help lists every command" \
    '[ $rc -eq 0 ] && (for c in keygen id trust record help; do grep -q "^  $c " <<<"$out" || exit 1; done)'
run help
help_out=$out
run --help
check "peerlink help prints the same list" '[ "$help_out" = "$out" ]'
run help trust add
help_out=$out
run trust add --help
check "peerlink help trust add = peerlink trust add --help" '[ -n "$out" ] && [ "$help_out" = "$out" ]'
run --version
check "peerlink --version" '[ $rc -eq 0 ] && [[ $out =~ ^peerlink\ [0-9]+\.[0-9]+ ]]'
for c in "${HELP_CMDS[@]}"; do
    # shellcheck disable=SC2086 # split "trust add" into two words
    run $c --help
    check "peerlink $c --help" '[ $rc -eq 0 ] && [ -n "$out" ] && [[ $out == *usage:* ]]'
done

finish
