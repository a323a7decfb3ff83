#!/usr/bin/env bash
# Consumer tests (`make consumer-test`): build tests/consumer/ against asyncio the five ways a
# user would, run it, and compare its output with expected_output.txt:
#   1. find_package(asyncio 0.1) against a `cmake --install` prefix
#   2. add_subdirectory() of this checkout
#   3. FetchContent from a file:// tarball of this checkout (no network)
#   4. pkg-config on a plain g++ command line against the install prefix
#   5. the .deb (`make package`) installed with apt-get, find_package + pkg-config against /usr,
#      then purged again.
# The library is built once (Release, no tests/examples) for 1, 4 and 5; 2 and 3 build it as a
# subproject, which is the point (they also check that GTest is not looked for, that no tests or
# examples are built, and that -Werror/-fsanitize stay off the consumer's own code).
# Everything happens in a temporary directory removed on exit, and the package is purged on any
# exit path (trap), so no later build can pick up installed headers. Needs root or sudo for
# step 5 (apt-get) and no network.
#   usage: tests/consumer/run.sh        env: JOBS (default 2), CXX (default g++), KEEP=1 keeps
#                                            the logs (they are always kept on failure)
set -euo pipefail

repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"
consumer_src="$repo/tests/consumer"
expected="$consumer_src/expected_output.txt"
jobs="${JOBS:-2}"
cxx="${CXX:-g++}"
pkg=libasyncio-dev

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  SUDO=(sudo)
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/asyncio-consumer.XXXXXX")"
deb_installed=0
current_step=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((deb_installed)); then
    echo "consumer-test: purging $pkg"
    "${SUDO[@]}" dpkg -P "$pkg" >/dev/null 2>&1 || echo "consumer-test: WARNING: dpkg -P $pkg failed" >&2
  fi
  if ((rc != 0)) && [[ -n "$current_step" ]]; then
    echo "consumer-test: FAILED in step '$current_step' (logs: $work/logs)" >&2
  fi
  if [[ "${KEEP:-0}" == 1 || $rc -ne 0 ]] && [[ -d "$work/logs" ]]; then
    # Keep only the logs of a failed run; the builds go.
    local keep="${TMPDIR:-/tmp}/asyncio-consumer-logs.$$"
    mv "$work/logs" "$keep" && echo "consumer-test: logs kept in $keep" >&2
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$work/logs"
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
generator=(-G Ninja)
command -v ninja >/dev/null 2>&1 || generator=()

# run <log-name> <timeout-seconds> <command...>: bounded, output to a log shown on failure.
run() {
  local name="$1" limit="$2"
  shift 2
  local log="$work/logs/$name.log"
  if ! timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1; then
    echo "consumer-test: command failed or timed out (${limit}s): $*" >&2
    tail -n 40 "$log" >&2
    return 1
  fi
}

# check_output <step> <executable>: the consumer runs and prints exactly expected_output.txt.
check_output() {
  local out="$work/logs/$1.out"
  run "$1-run" 30 "$2"
  cp "$work/logs/$1-run.log" "$out"
  if ! diff -u "$expected" "$out" >&2; then
    echo "consumer-test: $1: output differs from $expected" >&2
    return 1
  fi
}

die() {
  echo "consumer-test: $*" >&2
  exit 1
}

# cache_value <build-dir> <var>
cache_value() { sed -n "s/^$2:[A-Z]*=//p" "$1/CMakeCache.txt"; }

step_start=0
begin() {
  current_step="$1"
  step_start=$SECONDS
  echo "--- consumer-test: $1"
}
end() { echo "    ok ($((SECONDS - step_start)) s)"; }

# ---- Preconditions: nothing of ours installed system-wide ---------------------------------
if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "installed"; then
  echo "consumer-test: $pkg is already installed; remove it first (dpkg -P $pkg)" >&2
  exit 1
fi
for d in /usr/include/asyncio /usr/local/include/asyncio; do
  if [[ -e "$d" ]]; then
    echo "consumer-test: $d exists: a build could pick up those headers; remove it first" >&2
    exit 1
  fi
done

# ---- 0. The library, once: Release, no tests/examples; install prefix and .deb -----------
begin "library (Release build, cmake --install, cpack)"
lib="$work/lib"
prefix="$work/prefix"
# Same configuration as `make package` (Makefile): /usr gives the multiarch libdir.
run lib-configure 120 cmake -S "$repo" -B "$lib" "${generator[@]}" "${launcher[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DASYNCIO_BUILD_TESTS=OFF -DASYNCIO_BUILD_EXAMPLES=OFF \
  -DCMAKE_INSTALL_PREFIX=/usr
run lib-build 900 cmake --build "$lib" -j "$jobs"
run lib-install 60 cmake --install "$lib" --prefix "$prefix"
[[ -f "$prefix/share/asyncio/gdb/asyncio.py" ]] || die "the gdb extension is not installed"
run lib-cpack 120 cpack -G DEB -B "$lib/pkg" --config "$lib/CPackConfig.cmake"
deb="$(echo "$lib"/pkg/"$pkg"_*.deb)"
[[ -f "$deb" ]] || die "no $pkg .deb in $lib/pkg"
end

# ---- 1. find_package against the install prefix -------------------------------------------
begin "find_package(asyncio 0.1) against cmake --install prefix"
b="$work/find_package"
run fp-configure 120 cmake -S "$consumer_src" -B "$b" "${generator[@]}" \
  -DASYNCIO_CONSUMER_VIA=find_package -DCMAKE_PREFIX_PATH="$prefix"
found="$(cache_value "$b" asyncio_DIR)"
[[ "$found" == "$prefix"/* ]] || die "found asyncio in '$found', not under $prefix"
run fp-build 300 cmake --build "$b" -j "$jobs"
check_output find_package "$b/consumer"
# The version file's compatibility rule (SameMinorVersion while 0.x): 0.2 must be refused.
cat >"$work/version_check.cmake" <<'EOF'
cmake_minimum_required(VERSION 3.25)
project(version_check LANGUAGES CXX)
find_package(asyncio ${WANT} REQUIRED)
EOF
mkdir -p "$work/vc" && cp "$work/version_check.cmake" "$work/vc/CMakeLists.txt"
if timeout 60 cmake -S "$work/vc" -B "$work/vc/b2" -DWANT=0.2 -DCMAKE_PREFIX_PATH="$prefix" \
  >"$work/logs/fp-version-0.2.log" 2>&1; then
  echo "consumer-test: find_package(asyncio 0.2) accepted version 0.1" >&2
  exit 1
fi
grep -q 'compatible with requested version "0.2"' "$work/logs/fp-version-0.2.log" ||
  die "find_package(asyncio 0.2) failed for another reason (logs/fp-version-0.2.log)"
run fp-version-0.1.0 60 cmake -S "$work/vc" -B "$work/vc/b1" -DWANT=0.1.0 \
  -DCMAKE_PREFIX_PATH="$prefix"
end

# ---- 2. add_subdirectory ----------------------------------------------------------------------
# GTest disabled outright: the subproject must not look for it (a REQUIRED lookup would error).
subproject_args=(-DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON -DCMAKE_BUILD_TYPE=Release)

# no_tests_or_examples <build-dir>: a subproject builds the library only.
no_tests_or_examples() {
  local extra
  extra="$(find "$1" -type f \( -name asyncio_tests -o -name hello_world \) -print)"
  if [[ -n "$extra" ]]; then
    echo "consumer-test: the subproject built tests/examples: $extra" >&2
    return 1
  fi
}

begin "add_subdirectory"
b="$work/subdirectory"
run sub-configure 120 cmake -S "$consumer_src" -B "$b" "${generator[@]}" "${launcher[@]}" \
  "${subproject_args[@]}" -DASYNCIO_CONSUMER_VIA=subdirectory -DASYNCIO_SOURCE_DIR="$repo"
run sub-build 900 cmake --build "$b" -j "$jobs"
check_output subdirectory "$b/consumer"
no_tests_or_examples "$b"
end

# The library's own -Werror and sanitizers must stay on the library's sources: configure (only)
# a subproject build with both on and read the compile commands.
begin "add_subdirectory: no -Werror/-fsanitize on the consumer's code"
b="$work/subdirectory-flags"
run flags-configure 120 cmake -S "$consumer_src" -B "$b" "${generator[@]}" \
  "${subproject_args[@]}" -DASYNCIO_CONSUMER_VIA=subdirectory -DASYNCIO_SOURCE_DIR="$repo" \
  -DASYNCIO_WERROR=ON -DASYNCIO_SANITIZE=address,undefined -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
python3 - "$b/compile_commands.json" "$consumer_src/main.cpp" <<'EOF'
import json, sys
cmds = json.load(open(sys.argv[1]))
mine = [c for c in cmds if c["file"] == sys.argv[2]]
lib = [c for c in cmds if "/src/" in c["file"]]
assert len(mine) == 1, f"consumer main.cpp not in compile_commands: {len(mine)}"
assert lib and all("-Werror" in c["command"] and "-fsanitize=address,undefined" in c["command"]
                   for c in lib), "the library's own sources lost -Werror/-fsanitize"
for flag in ("-Werror", "-fsanitize", "-Wpedantic"):
    assert flag not in mine[0]["command"], f"{flag} leaked into the consumer: {mine[0]['command']}"
EOF
end

# ---- 3. FetchContent from a file:// tarball of the checkout -----------------------------------
begin "FetchContent (URL file://)"
tarball="$work/asyncio-src.tar.gz"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Tracked and untracked-but-not-ignored files: the working tree as it is, without build/.
  (cd "$repo" && git ls-files -z -co --exclude-standard |
    tar --null -T - --ignore-failed-read --transform 's,^,asyncio/,' -czf "$tarball")
else
  tar -C "$(dirname "$repo")" --exclude=build --exclude=.git -czf "$tarball" \
    --transform "s,^$(basename "$repo"),asyncio," "$(basename "$repo")"
fi
b="$work/fetchcontent"
run fc-configure 300 cmake -S "$consumer_src" -B "$b" "${generator[@]}" "${launcher[@]}" \
  "${subproject_args[@]}" -DASYNCIO_CONSUMER_VIA=fetchcontent -DASYNCIO_URL="file://$tarball"
run fc-build 900 cmake --build "$b" -j "$jobs"
check_output fetchcontent "$b/consumer"
no_tests_or_examples "$b"
end

# ---- 4. pkg-config, plain compiler command line, against the install prefix -------------------
begin "pkg-config + $cxx against the install prefix"
pcdir="$(dirname "$(find "$prefix" -name asyncio.pc -print -quit)")"
b="$work/pkg-config"
mkdir -p "$b"
export PKG_CONFIG_PATH="$pcdir"
version="$(pkg-config --modversion asyncio)"
[[ "$version" == "$(dpkg-deb -f "$deb" Version)" ]] || die "pkg-config: version '$version'"
cflags="$(pkg-config --cflags asyncio)"
[[ "$cflags" == *"-I$prefix/include"* ]] || die "pkg-config: --cflags '$cflags' lacks -I$prefix/include"
# Exactly the README's command line.
run pc-build 300 bash -c "$cxx -std=c++20 -O2 '$consumer_src/main.cpp' -o '$b/consumer' \$(pkg-config --cflags --libs asyncio)"
unset PKG_CONFIG_PATH
check_output pkg-config "$b/consumer"
end

# ---- 5. the .deb: apt-get install, build against /usr, purge -----------------------------------
begin "the .deb: apt-get install, find_package + pkg-config against /usr, dpkg -P"
deb_installed=1 # from here on the trap purges, even if the install fails half-way
run deb-install 300 "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y \
  --no-install-recommends -o DPkg::Lock::Timeout=120 "$deb"
b="$work/deb"
run deb-configure 120 cmake -S "$consumer_src" -B "$b" "${generator[@]}" \
  -DASYNCIO_CONSUMER_VIA=find_package
found="$(cache_value "$b" asyncio_DIR)"
[[ "$found" == /usr/lib/* ]] || die ".deb: found asyncio in '$found', not under /usr/lib"
run deb-build 300 cmake --build "$b" -j "$jobs"
check_output deb-find_package "$b/consumer"
run deb-pc-build 300 bash -c "$cxx -std=c++20 -O2 '$consumer_src/main.cpp' -o '$b/consumer-pc' \$(pkg-config --cflags --libs asyncio)"
check_output deb-pkg-config "$b/consumer-pc"
run deb-purge 120 "${SUDO[@]}" dpkg -P "$pkg"
deb_installed=0
for f in /usr/include/asyncio /usr/lib/*/libasyncio.a /usr/lib/*/pkgconfig/asyncio.pc; do
  if [[ -e "$f" ]]; then
    echo "consumer-test: $f still present after dpkg -P $pkg" >&2
    exit 1
  fi
done
end

current_step=""
echo "consumer-test: all five consumer builds passed ($SECONDS s)"
