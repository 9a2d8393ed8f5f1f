#!/usr/bin/env bash
# Every C file in the tree matches .clang-format. Prints TAP.
set -uo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
echo "1..1"
if out=$(clang-format --dry-run --Werror $files 2>&1); then
  echo "ok 1 - clang-format: all C sources formatted"
else
  echo "$out" | head -20 | sed 's/^/# /'
  echo "not ok 1 - clang-format: run clang-format -i on the files above"
  exit 1
fi
