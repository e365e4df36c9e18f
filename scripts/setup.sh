#!/usr/bin/env bash
# Installs what xdpwatch needs to build, test and demo on a fresh Debian/Ubuntu
# machine, then builds dist/xdpwatch. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (it installs packages, and XDP needs root)" >&2
  exit 1
fi

packages=(clang llvm bpftool libbpf-dev iproute2 netsniff-ng tcpdump python3 gcc coreutils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v npm >/dev/null; then
  echo "setup: npm not found: install Node.js 20 or later (apt-get install nodejs npm)" >&2
  exit 1
fi
if [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
