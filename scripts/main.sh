#!/usr/bin/env bash
# The main job: set up a fresh Debian 12 machine, build peerlink, run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
exec bash scripts/demo.sh build/tools/peerlink/peerlink
