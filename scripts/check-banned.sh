#!/usr/bin/env bash
# No banned functions (STYLE.md) in any C source. Prints TAP.
set -uo pipefail
cd "$(dirname "$0")/.."
BANNED='strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|strtok|tmpnam|tempnam|mktemp|alloca|strncpy|strncat'
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
echo "1..1"
hits=$(grep -nHwE "($BANNED)[[:space:]]*\(" $files | grep -v 'banned-ok' || true)
if [ -z "$hits" ]; then
  echo "ok 1 - no banned functions ($BANNED)"
else
  echo "$hits" | sed 's/^/# /'
  echo "not ok 1 - banned functions used: see above (STYLE.md lists safer ones)"
  exit 1
fi
