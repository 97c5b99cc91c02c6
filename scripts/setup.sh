#!/usr/bin/env bash
# The one place that installs what microlearn needs on a fresh Debian 12 machine.
# Idempotent: a second run with nothing changed finishes in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi clang libclang-rt-14-dev qemu-system-arm
  gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc chromium mosquitto
  libstdc++-arm-none-eabi-dev)  # C++ headers: the boosting benchmark compiles micromlgen's C++ class
VENV=.venv
STAMP="$VENV/.setup-stamp"

need_apt=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

want=$( (cat pyproject.toml scripts/setup.sh tools/node/package.json tools/node/package-lock.json 2>/dev/null || true) | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  python3 -m venv "$VENV"
fi
echo "setup: installing Python packages into $VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[dev]"

echo "setup: installing the MicroPython WebAssembly interpreter (npm)"
if [ -f tools/node/package-lock.json ]; then
  (cd tools/node && npm ci --no-audit --no-fund --silent)
else
  (cd tools/node && npm install --no-audit --no-fund --silent)
fi

echo "$want" > "$STAMP"
echo "setup: done"
