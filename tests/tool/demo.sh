#!/usr/bin/env bash
# demo.sh - runs scripts/demo.sh with the tool under test, and checks that
# the demo notices when the tool misbehaves.
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

plan 12

root=${PL_SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
demo="$root/scripts/demo.sh"

out=$(bash "$demo" "$PEERLINK" 2>"$WORK/demo.err")
rc=$?
err=$(cat "$WORK/demo.err")
check "the demo exits 0" '[ $rc -eq 0 ]'
check "it narrates every step" \
    '[ "$(grep -c "^== " <<<"$out")" -eq 18 ] && [[ $out == *"== done: all 17 steps behaved as expected"* ]]'
check "it shows two different fingerprints" \
    '[ "$(grep -Eo "ni:///sha3-256;[A-Za-z0-9_-]{43}" <<<"$out" | sort -u | wc -l)" -ge 2 ]'
check "it draws a QR code" '[[ $out == *"████"* ]]'
check "the forgeries are refused with the tool's message" \
    '[ "$(grep -c "signature does not verify, or the record is not by" <<<"$out")" -eq 2 ]'
dir=$(sed -n 's/^(working in \(.*\))$/\1/p' <<<"$out")
check "it removed its temporary directory" '[ -n "$dir" ] && [ ! -e "$dir" ]'

check "the demo finds alice through the directory and talks to her over TLS" \
    '[[ $out == *"via          DNS, TXT"* && $out == *"alice received: hello alice, this is bob"* ]]'
check "the demo pings alice and sends her a file over UDP" \
    '[[ $out == *"3 sent, 3 received, 0% loss"* && $out == *"identical to bob'"'"'s file"* ]]'

run_demo_with() {
    out=$(bash "$demo" "$1" 2>"$WORK/demo.err")
    rc=$?
    err=$(cat "$WORK/demo.err")
}
run_demo_with "$WORK/no-such-tool"
check "with no tool it says how to build one (exit 1)" '[ $rc -eq 1 ] && [[ $err == *ninja* ]]'

# A tool that accepts every record set: the demo must fail, not shrug.
cat >"$WORK/lenient" <<EOF
#!/usr/bin/env bash
for a in "\$@"; do [ "\$a" = verify ] && exit 0; done
exec "$PEERLINK" "\$@"
EOF
chmod +x "$WORK/lenient"
run_demo_with "$WORK/lenient"
check "a tool that accepts a tampered record set fails the demo" \
    '[ $rc -ne 0 ] && [[ $err == *"accepted a tampered record set"* ]]'
# A tool whose trust check never allows.
cat >"$WORK/distrustful" <<EOF
#!/usr/bin/env bash
[ "\$1" = trust ] && [ "\$2" = check ] && { echo unknown; exit 1; }
exec "$PEERLINK" "\$@"
EOF
chmod +x "$WORK/distrustful"
run_demo_with "$WORK/distrustful"
check "a tool whose trust check fails fails the demo" '[ $rc -ne 0 ] && [[ $err == *"does not trust"* ]]'

# A tool whose connect sends nothing: alice never gets bob's line.
cat >"$WORK/mute" <<EOF
#!/usr/bin/env bash
[ "\$1" = connect ] && exec "$PEERLINK" "\$@" </dev/null
exec "$PEERLINK" "\$@"
EOF
chmod +x "$WORK/mute"
run_demo_with "$WORK/mute"
check "a tool that connects but sends nothing fails the demo" \
    '[ $rc -ne 0 ] && [[ $err == *"did not get bob"* ]]'

finish
