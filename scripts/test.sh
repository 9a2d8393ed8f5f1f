#!/usr/bin/env bash
# The test command: installs what is needed, then builds and runs everything
# CI checks, and ends with one line "N passed, N failed".
#   1. clang-format and banned-function checks
#   2. the suite (unit, tool, fuzz-seed replays) built with gcc
#   3. the same suite built with clang under ASan + UBSan
#   4. every libFuzzer target for a short run ($PL_FUZZ_SECONDS, default 20)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
FUZZ_SECONDS=${PL_FUZZ_SECONDS:-20}
OUT=${PL_TEST_OUT:-$ROOT/build-test-logs}
rm -rf "$OUT"
mkdir -p "$OUT"

bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

step() { # name, command...: run, keep TAP output in $OUT/name.tap
  local name=$1
  shift
  echo "== $name"
  "$@" >"$OUT/$name.tap" 2>"$OUT/$name.err"
  local rc=$?
  grep -E '^(not )?ok ' "$OUT/$name.tap" | grep '^not ok' | head -20
  [ $rc -eq 0 ] || { echo "   $name exited $rc (log: $OUT/$name.err)"; tail -20 "$OUT/$name.err"; }
  echo "$rc" >"$OUT/$name.rc"
}

step format bash scripts/check-format.sh
step banned bash scripts/check-banned.sh

suite() { # name, build dir, meson options...
  local name=$1 dir=$2
  shift 2
  rm -rf "$dir"
  if ! meson setup "$dir" "$@" >"$OUT/$name-setup.log" 2>&1 || ! ninja -C "$dir" >"$OUT/$name-build.log" 2>&1; then
    echo "== $name: build failed"
    tail -30 "$OUT/$name-build.log" "$OUT/$name-setup.log"
    echo "not ok 1 - $name build" >"$OUT/$name.tap"
    echo 1 >"$OUT/$name.rc"
    return
  fi
  echo "== $name"
  meson test -C "$dir" --no-rebuild --print-errorlogs >"$OUT/$name.meson.log" 2>&1
  echo $? >"$OUT/$name.rc"
  python3 scripts/tap-summary.py "$dir/meson-logs/testlog.json" >"$OUT/$name.tap"
  grep '^not ok' "$OUT/$name.tap" | head -20
  echo "   $(grep -c '^ok ' "$OUT/$name.tap") passed, $(grep -c '^not ok ' "$OUT/$name.tap") failed"
}

suite gcc "$ROOT/build-test"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
CC=clang suite asan "$ROOT/build-asan" -Db_sanitize=address,undefined -Db_lundef=false \
  -Dc_args=-fno-sanitize-recover=all

# libFuzzer: build every target with coverage instrumentation and run it
# briefly from its seed corpus (new inputs go to a scratch directory).
fuzz_dir="$ROOT/build-fuzz"
rm -rf "$fuzz_dir"
echo "== fuzz (${FUZZ_SECONDS}s per target)"
if CC=clang meson setup "$fuzz_dir" -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined \
  -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link >"$OUT/fuzz-setup.log" 2>&1 &&
  ninja -C "$fuzz_dir" >"$OUT/fuzz-build.log" 2>&1; then
  n=0
  : >"$OUT/fuzz.tap"
  for bin in "$fuzz_dir"/fuzz/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    t=${bin##*/fuzz_}
    n=$((n + 1))
    scratch=$(mktemp -d)
    if "$bin" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -artifact_prefix="$OUT/crash-$t-" \
      "$scratch" "$ROOT/fuzz/corpus/$t" >"$OUT/fuzz-$t.log" 2>&1; then
      execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/fuzz-$t.log" | grep -o '[0-9]*$')
      echo "ok $n - fuzz $t: ${execs:-?} inputs, no crash" >>"$OUT/fuzz.tap"
    else
      echo "not ok $n - fuzz $t crashed: $OUT/fuzz-$t.log" >>"$OUT/fuzz.tap"
      tail -30 "$OUT/fuzz-$t.log"
    fi
    rm -rf "$scratch"
  done
  cat "$OUT/fuzz.tap"
else
  echo "not ok 1 - fuzz build" >"$OUT/fuzz.tap"
  tail -30 "$OUT/fuzz-build.log" "$OUT/fuzz-setup.log"
fi

passed=$(cat "$OUT"/*.tap | grep -E '^ok ' | grep -vc '# SKIP')
skipped=$(cat "$OUT"/*.tap | grep -E '^(not )?ok ' | grep -c '# SKIP')
failed=$(cat "$OUT"/*.tap | grep -E '^not ok ' | grep -vc '# SKIP')
# A step that failed without reporting a failing test still fails the run.
for rc in "$OUT"/*.rc; do
  if [ "$(cat "$rc")" != 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
    echo "step $(basename "$rc" .rc) failed"
  fi
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
