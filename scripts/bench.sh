#!/usr/bin/env bash
# The benchmark suite (issue 6): run by `make bench` with the build directory as $1, after the
# release build. Builds the optional targets (those that depend on library parts still being
# written; each may fail without stopping the suite), then runs bench/harness.py.
# Options (environment): BENCH_FILTER, BENCH_IMPLS, BENCH_QUICK, BENCH_ROUNDS, BENCH_SCALE,
# BENCH_NET_DURATION, BENCH_NET_WARMUP, BENCH_RESULTS -- see bench/README.md.
set -euo pipefail

build="${1:-build/release}"
here="$(cd "$(dirname "$0")/.." && pwd)"

if [[ ! -d "$build" ]]; then
  echo "bench.sh: build directory $build does not exist (run: cmake --preset release && cmake --build --preset release)" >&2
  exit 1
fi

# Required targets: built by the preset already, but make sure (a partial library build
# elsewhere in the tree must not stop the benchmarks from being built).
if ! cmake --build "$build" --target asyncio_micro asyncio_micro_callgraph loadgen tls_loadgen epoll_echo >"$build/bench-core.log" 2>&1; then
  echo "bench.sh: the core benchmark targets do not build (measuring stale binaries would be wrong):" >&2
  tail -n 20 "$build/bench-core.log" >&2
  exit 1
fi

# Optional targets: "not built" rows in the tables when they do not compile.
for target in asyncio_micro_sync asio_micro asio_echo asio_tls_echo uring_echo uv_echo \
  asyncio_sock_echo asyncio_protocol_echo asyncio_streams_echo asyncio_streams_readinto_echo \
  asyncio_tls_echo; do
  if cmake --build "$build" --target "$target" >"$build/bench-$target.log" 2>&1; then
    echo "bench.sh: built $target"
  else
    rm -f "$build/bench/$target"  # a stale binary would measure old code
    echo "bench.sh: $target not built (see $build/bench-$target.log)"
  fi
done

py=/usr/bin/python3
[[ -x "$py" ]] || py="$(command -v python3)"
exec "$py" "$here/bench/harness.py" "$build"
