#!/usr/bin/env bash
# Builds peerlink (release) and runs every benchmark in bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -f build-bench/build.ninja ] || meson setup build-bench --buildtype=release -Dtests=false >/dev/null
ninja -C build-bench >/dev/null
for b in build-bench/bench/bench_*; do
  [ -f "$b" ] && [ -x "$b" ] || continue
  echo "== ${b##*/}"
  "$b"
done
for s in bench/*.sh; do
  echo "== ${s##*/}"
  bash "$s" build-bench/tools/peerlink/peerlink
done
