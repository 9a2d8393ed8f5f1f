# tap.sh - sourced by the tool tests: TAP output, a private config home,
# and a helper to run the tool and keep its exit code, stdout and stderr.
#
#   plan N                 print "1..N" (checked again at the end)
#   run ARGS...            run "$PEERLINK" ARGS...; sets $rc, $out, $err
#   check DESC EXPR        "ok"/"not ok" as `eval EXPR` succeeds or not
#   skip DESC REASON       "ok N - DESC # SKIP REASON"
#   finish                 exit 1 if any test failed or the count is off
#   node NAME              a key and config home under $WORK/NAME; its
#                          fingerprint in $NAME_fp
#   wait_for FILE PATTERN  until FILE has a line matching PATTERN (up to 5 s)
#   sha FILE               the SHA-256 of FILE, in hex

set -u

if [ -z "${PEERLINK:-}" ] || [ ! -x "$PEERLINK" ]; then
    echo "Bail out! \$PEERLINK is not the peerlink tool: '${PEERLINK:-}'"
    exit 1
fi

T_COUNT=0
T_FAILED=0
T_PLANNED=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/peerlink-tool-test.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT

# A config home of our own: nothing from the user's real one is read or
# written, and nothing is left behind.
export XDG_CONFIG_HOME="$WORK/config"
export HOME="$WORK/home"
unset PEERLINK_KEY PEERLINK_TRUST
mkdir -p "$HOME"

plan() {
    T_PLANNED=$1
    echo "1..$1"
}

run() {
    out=$("$PEERLINK" "$@" 2>"$WORK/.stderr")
    rc=$?
    err=$(cat "$WORK/.stderr")
}

diag() {
    printf '%s\n' "$@" | sed 's/^/# /'
}

check() {
    local desc=$1 expr=$2
    T_COUNT=$((T_COUNT + 1))
    if eval "$expr"; then
        echo "ok $T_COUNT - $desc"
    else
        echo "not ok $T_COUNT - $desc"
        T_FAILED=$((T_FAILED + 1))
        diag "failed: $expr" "exit code: ${rc:-}" "stdout: ${out:-}" "stderr: ${err:-}"
    fi
}

skip() {
    T_COUNT=$((T_COUNT + 1))
    echo "ok $T_COUNT - $1 # SKIP $2"
}

finish() {
    if [ "$T_COUNT" -ne "$T_PLANNED" ]; then
        diag "planned $T_PLANNED tests but ran $T_COUNT"
        exit 1
    fi
    [ "$T_FAILED" -eq 0 ]
    exit $?
}

node() {
    mkdir -p "$WORK/$1"
    XDG_CONFIG_HOME="$WORK/$1" "$PEERLINK" keygen >/dev/null || exit 1
    printf -v "${1}_fp" '%s' "$(XDG_CONFIG_HOME="$WORK/$1" "$PEERLINK" id)"
}

wait_for() {
    local i
    for i in $(seq 1 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

sha() { sha256sum "$1" | cut -d' ' -f1; }
