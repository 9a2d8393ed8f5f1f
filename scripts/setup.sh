#!/usr/bin/env bash
# Installs what peerlink needs to build, test and fuzz on Debian 12.
# Skips apt-get entirely when everything is already installed.
set -euo pipefail

PACKAGES=(
  build-essential meson ninja-build pkg-config git
  clang clang-format libclang-rt-14-dev
  libsodium-dev libssl-dev openssl libjansson-dev libqrencode-dev libcmocka-dev
  libuv1-dev
  python3 python3-cryptography-vectors zbar-tools socat golang-github-flynn-noise-dev procps
  libcurl4-openssl-dev libldns-dev knot dnsutils
  libmicrohttpd-dev libsqlite3-dev sqlite3 curl
  iperf3
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "setup: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
