#!/usr/bin/env bash
# demo.sh - two nodes, alice and bob, meet knowing only each other's
# fingerprint: identities, trust, signed record sets, a forgery refused; then
# a directory on loopback, where alice announces herself and bob finds her
# over DNS and connects to her over TLS, her key proven in the handshake;
# last, the same over the datagram transport: a ping and a file over UDP.
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

# ---- finding and reaching each other
step "alice listens for TLS connections (any free port on loopback)"
XDG_CONFIG_HOME="$work/alice" HOME="$work/alice" timeout 60 "$PEERLINK" listen \
    --tcp 127.0.0.1:0 --once --name alice </dev/null >"$work/alice.got" 2>"$work/alice.err" &
alice_pid=$!
for _ in $(seq 1 100); do
    grep -q "listening on" "$work/alice.err" 2>/dev/null && break
    sleep 0.05
done
alice_addr=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$work/alice.err")
[ -n "$alice_addr" ] || die "alice could not listen: $(cat "$work/alice.err")"
echo "    alice is at tcp://$alice_addr"

step "a directory for the zone dir.test (HTTP and DNS on loopback)"
"$PEERLINK" directory serve --zone dir.test --db "$work/dir.db" --http 127.0.0.1:0 \
    --dns 127.0.0.1:0 >/dev/null 2>"$work/dir.err" &
dir_pid=$!
trap 'kill $dir_pid $alice_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
    [ "$(grep -c "listening on" "$work/dir.err" 2>/dev/null)" -ge 3 ] && break
    sleep 0.05
done
http_port=$(sed -n 's/.*: http listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/dir.err")
dns_port=$(sed -n 's/.*: dns-udp listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/dir.err")
[ -n "$http_port" ] && [ -n "$dns_port" ] || die "the directory did not start: $(cat "$work/dir.err")"
sed 's/^/    /' "$work/dir.err"

step "alice announces where she is, signed, to the directory"
as alice announce --directory "http://127.0.0.1:$http_port" --address "tcp://$alice_addr" \
    --name alice@dir.test --ttl 600 || die "alice could not announce"

step "bob knows only ni://dir.test/...: he finds alice over DNS and verifies what he got"
alice_at_dir=$(capture alice id --authority dir.test) || die "no fingerprint with an authority"
capture bob discover "$alice_at_dir" --via dns --dns-server "127.0.0.1:$dns_port" \
    >"$work/found.txt" 2>"$work/found.err" || die "bob could not discover alice: $(cat "$work/found.err")"
sed 's/^/    /' "$work/found.txt"
found=$(grep -Eo 'tcp://127\.0\.0\.1:[0-9]+' "$work/found.txt" | head -1)
[ "$found" = "tcp://$alice_addr" ] || die "bob found $found, not alice's address"

step "bob connects to that address; TLS proves it is alice's key; they talk"
echo "hello alice, this is bob" | XDG_CONFIG_HOME="$work/bob" HOME="$work/bob" timeout 30 \
    "$PEERLINK" connect --tcp "${found#tcp://}" "$alice_fp" --name bob 2>&1 | sed 's/^/    /'
wait "$alice_pid" || die "alice's side of the connection failed: $(cat "$work/alice.err")"
sed 's/^/    /' "$work/alice.err"
grep -qx "hello alice, this is bob" "$work/alice.got" || die "alice did not get bob's line"
echo "    alice received: $(cat "$work/alice.got")"

step "alice also listens over UDP; bob pings her: handshake time and round trips"
XDG_CONFIG_HOME="$work/alice" HOME="$work/alice" timeout 60 "$PEERLINK" listen \
    --udp 127.0.0.1:0 --once </dev/null >"$work/alice.udp" 2>"$work/alice.uerr" &
alice_pid=$!
for _ in $(seq 1 100); do
    grep -q "listening on" "$work/alice.uerr" 2>/dev/null && break
    sleep 0.05
done
alice_udp=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\) (udp).*/\1/p' "$work/alice.uerr")
[ -n "$alice_udp" ] || die "alice could not listen over UDP: $(cat "$work/alice.uerr")"
as bob ping --udp "$alice_udp" "$alice_fp" -c 3 -i 100 || die "bob could not ping alice"

step "bob sends alice 2 MB over UDP (reliable messages); they arrive intact"
head -c 2000000 /dev/urandom >"$work/file"
XDG_CONFIG_HOME="$work/bob" HOME="$work/bob" timeout 30 "$PEERLINK" connect --udp "$alice_udp" \
    "$alice_fp" <"$work/file" 2>&1 >/dev/null | sed 's/^/    /'
wait "$alice_pid" || die "alice's side of the UDP connection failed: $(cat "$work/alice.uerr")"
sed 's/^/    /' "$work/alice.uerr"
cmp -s "$work/file" "$work/alice.udp" || die "what alice received over UDP differs from bob's file"
echo "    alice received $(wc -c <"$work/alice.udp") bytes, identical to bob's file"

printf '\n== done: all %d steps behaved as expected\n' "$steps"
