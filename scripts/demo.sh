#!/usr/bin/env bash
# demo.sh - two nodes, alice and bob, meet knowing only each other's
# fingerprint: identities, trust, signed record sets, and a forgery refused.
#
# Usage: scripts/demo.sh [PATH_TO_PEERLINK]
#   (default: build/tools/peerlink/peerlink under the source tree)
#
# Everything happens in a temporary directory that is removed at the end;
# your own ~/.config/peerlink is never touched. Exit status 0 when every step
# behaved as expected, 1 otherwise.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEERLINK=${1:-$here/../build/tools/peerlink/peerlink}
if [ ! -x "$PEERLINK" ]; then
    echo "demo: no peerlink tool at $PEERLINK: build it first (meson setup build && ninja -C build)," >&2
    echo "      or give its path: scripts/demo.sh PATH_TO_PEERLINK" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/peerlink-demo.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
unset PEERLINK_KEY PEERLINK_TRUST
steps=0
echo "(working in $work)"

step() {
    steps=$((steps + 1))
    printf '\n== %s\n' "$*"
}

die() {
    printf '\ndemo: FAILED: %s\n' "$*" >&2
    exit 1
}

# as NAME ARGS...: run peerlink as alice or bob (each has its own config
# home), output indented.
as() {
    local who=$1
    shift
    XDG_CONFIG_HOME="$work/$who" HOME="$work/$who" "$PEERLINK" "$@" 2>&1 | sed 's/^/    /'
    return "${PIPESTATUS[0]}"
}

# Like `as`, but keep stdout only (for values and files).
capture() {
    local who=$1
    shift
    XDG_CONFIG_HOME="$work/$who" HOME="$work/$who" "$PEERLINK" "$@"
}

step "alice and bob each create an identity (separate config homes)"
as alice keygen || die "alice's keygen failed"
as bob keygen || die "bob's keygen failed"

step "their fingerprints: this is all each needs to know of the other"
alice_fp=$(capture alice id) || die "alice has no fingerprint"
bob_fp=$(capture bob id) || die "bob has no fingerprint"
echo "    alice: $alice_fp"
echo "    bob:   $bob_fp"
[ "$alice_fp" != "$bob_fp" ] || die "alice and bob have the same fingerprint"

step "alice shows hers as a QR code, for bob to scan"
as alice id --qr || die "alice's QR code failed"

step "each trusts the other, by fingerprint, under a pet name"
as alice trust add "$bob_fp" --name bob --group friends || die "alice cannot trust bob"
as bob trust add "$alice_fp" --name alice --group friends || die "bob cannot trust alice"
verdict=$(capture alice trust check "$bob_fp") || die "alice does not trust bob: $verdict"
echo "    alice on bob: $verdict"
verdict=$(capture bob trust check "$alice_fp") || die "bob does not trust alice: $verdict"
echo "    bob on alice: $verdict"

step "alice signs her record set (where to reach her, valid for an hour)"
capture alice record sign --address udp://198.51.100.4:7000 \
    --address 'tcp://[2001:db8::4]:7001' --name alice@example.org >"$work/alice.json" ||
    die "alice cannot sign"
sed 's/^/    /' "$work/alice.json"

step "bob signs his, in JSON and in the DNS TXT form"
capture bob record sign --address udp://203.0.113.9:7000 \
    --address 'tcp://[2001:db8::9]:7001' >"$work/bob.json" || die "bob cannot sign"
capture bob record sign --address udp://203.0.113.9:7000 \
    --address 'tcp://[2001:db8::9]:7001' --txt >"$work/bob.txt" || die "bob cannot sign TXT"
sed 's/^/    /' "$work/bob.json" "$work/bob.txt"

step "bob verifies alice's record set against her fingerprint"
as bob record verify --fingerprint "$alice_fp" "$work/alice.json" ||
    die "bob could not verify alice's record set"

step "alice verifies bob's, both forms, against his fingerprint"
as alice record verify --fingerprint "$bob_fp" "$work/bob.json" ||
    die "alice could not verify bob's record set"
as alice record verify --txt --fingerprint "$bob_fp" "$work/bob.txt" >/dev/null ||
    die "alice could not verify bob's TXT record set"
echo "    (the TXT form verifies too)"

step "mallory changes alice's address in a copy: bob refuses it"
sed 's/198\.51\.100\.4/192.0.2.66/' "$work/alice.json" >"$work/tampered.json"
cmp -s "$work/alice.json" "$work/tampered.json" && die "the tampering changed nothing"
if as bob record verify --fingerprint "$alice_fp" "$work/tampered.json"; then
    die "bob accepted a tampered record set"
fi
echo "    refused, as it should be"

step "bob's genuine record set, passed off as alice's: refused"
if as bob record verify --fingerprint "$alice_fp" "$work/bob.json"; then
    die "a record set by bob passed as alice's"
fi
echo "    refused, as it should be"

printf '\n== done: all %d steps behaved as expected\n' "$steps"
