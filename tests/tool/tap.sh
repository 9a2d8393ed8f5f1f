# tap.sh - sourced by the tool tests: TAP output, a private config home,
# and a helper to run the tool and keep its exit code, stdout and stderr.
#
#   plan N                 print "1..N" (checked again at the end)
#   run ARGS...            run "$PEERLINK" ARGS...; sets $rc, $out, $err
#   check DESC EXPR        "ok"/"not ok" as `eval EXPR` succeeds or not
#   skip DESC REASON       "ok N - DESC # SKIP REASON"
#   finish                 exit 1 if any test failed or the count is off

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
