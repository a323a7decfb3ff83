#!/usr/bin/env bash
# Install the Debian packages needed to build, test, package and benchmark asyncio
# (pkg-config, dpkg-dev, file: `make package` and tests/consumer/run.sh).
# Idempotent: apt-get is only invoked when something is actually missing.
set -euo pipefail

# package:command  (command is optional; if present on PATH the package is
# considered satisfied even if it was not installed through dpkg)
readonly DEPS=(
  "cmake:cmake"
  "ninja-build:ninja"
  "g++:g++"
  "clang:clang++"
  "libgtest-dev:"
  "libgmock-dev:"
  "libbenchmark-dev:"
  "libssl-dev:"
  "openssl:openssl"
  "curl:curl"
  "python3:python3"
  "clang-format:clang-format"
  "doxygen:doxygen"
  "make:make"
  "libboost-dev:"
  "python3-uvloop:"
  "valgrind:valgrind"
  "linux-perf:perf"
  "util-linux:taskset"
  "pkg-config:pkg-config"
  "dpkg-dev:dpkg-shlibdeps"
  "file:file"
  "gdb:gdb"
  "liburing-dev:"
  "libuv1-dev:"
)

pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for dep in "${DEPS[@]}"; do
  pkg="${dep%%:*}"
  cmd="${dep#*:}"
  if pkg_installed "$pkg"; then
    continue
  fi
  if [[ -n "$cmd" ]] && command -v "$cmd" >/dev/null 2>&1; then
    continue
  fi
  missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#DEPS[@]} dependencies already present, nothing to do"
  exit 0
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps: missing ${missing[*]} but not root and sudo is unavailable" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq >/dev/null
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: installed ${missing[*]}"
