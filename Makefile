# Convenience front-end for the CMake presets (see CMakePresets.json).
# The machine has 2 cores: keep build/test parallelism at 2.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

JOBS ?= 2
CMAKE ?= cmake
CTEST ?= ctest
CLANG_FORMAT ?= clang-format

ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

FORMAT_DIRS := $(wildcard include src tests examples bench fuzz)
FORMAT_FIND := $(if $(FORMAT_DIRS),find $(FORMAT_DIRS) -type f \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' -o -name '*.c' \) -not -path '*/build/*' -print0,printf '')

.PHONY: all deps build demo test test-debug test-asan test-tsan clang bench format format-check clean \
        package consumer-test fuzz-build fuzz fuzz-ci fuzz-merge
.PHONY: test-clang test-clang-asan docs docs-check
.PHONY: difftest difftest-ci

all: build

deps:
	./scripts/install-deps.sh

build: deps
	$(CMAKE) --preset debug
	$(CMAKE) --build --preset debug -j $(JOBS)

# The demo needs the library and the examples only (target asyncio_examples), not the tests.
demo: deps
	$(CMAKE) --preset debug
	$(CMAKE) --build --preset debug -j $(JOBS) --target asyncio_examples
	./scripts/demo.sh build/debug

# Each step is a separate recipe line: make aborts (non-zero) on the first failure.
# The matrix: g++ debug, ASan+UBSan, TSan, each on both backends (epoll, then io_uring with
# ASYNCIO_BACKEND); the differential scenarios against CPython 3.12;
# the API reference check; clang++ build + suite; the fuzz targets (corpus replay + a bounded
# run); the consumer builds (install prefix, add_subdirectory, FetchContent, pkg-config, .deb).
test: deps
	$(CMAKE) --preset debug
	$(CMAKE) --build --preset debug -j $(JOBS)
	$(CTEST) --preset debug --output-on-failure -j $(JOBS)
	ASYNCIO_BACKEND=io_uring $(CTEST) --preset debug --output-on-failure -j $(JOBS)
	$(CMAKE) --preset asan
	$(ASAN_ENV) $(CMAKE) --build --preset asan -j $(JOBS)
	$(ASAN_ENV) $(CTEST) --preset asan --output-on-failure -j $(JOBS)
	ASYNCIO_BACKEND=io_uring $(ASAN_ENV) $(CTEST) --preset asan --output-on-failure -j $(JOBS)
	$(CMAKE) --preset tsan
	$(TSAN_ENV) $(CMAKE) --build --preset tsan -j $(JOBS)
	$(TSAN_ENV) $(CTEST) --preset tsan --output-on-failure -j $(JOBS) --no-tests=ignore
	ASYNCIO_BACKEND=io_uring $(TSAN_ENV) $(CTEST) --preset tsan --output-on-failure -j $(JOBS) --no-tests=ignore
	$(MAKE) --no-print-directory difftest-ci
	$(MAKE) --no-print-directory docs-check
	$(MAKE) --no-print-directory test-clang
	$(MAKE) --no-print-directory fuzz-ci
	$(MAKE) --no-print-directory consumer-test

# Compile with clang++ (warnings are errors) -- not part of `make test`.
clang: deps
	$(CMAKE) --preset clang
	$(CMAKE) --build --preset clang -j $(JOBS)

# Debian package (CPack, cmake/asyncioPackaging.cmake): build/package/libasyncio-dev_<ver>_<arch>.deb.
# Release, library only; prefix /usr so GNUInstallDirs picks the multiarch libdir.
# tests/consumer/run.sh configures its library build the same way.
PACKAGE_CMAKE_ARGS := -G Ninja -DCMAKE_BUILD_TYPE=Release -DASYNCIO_BUILD_TESTS=OFF \
                      -DASYNCIO_BUILD_EXAMPLES=OFF -DCMAKE_INSTALL_PREFIX=/usr
package: deps
	$(CMAKE) -S . -B build/package $(PACKAGE_CMAKE_ARGS)
	$(CMAKE) --build build/package -j $(JOBS) --target package
	@ls -1 build/package/*.deb

# Builds tests/consumer/ against the library five ways (install prefix, add_subdirectory,
# FetchContent, pkg-config, the .deb installed with apt-get then purged). Needs root/sudo.
consumer-test: deps
	JOBS=$(JOBS) ./tests/consumer/run.sh

# clang++ build + the whole suite (warnings are errors). Uses ccache when installed.
CCACHE_LAUNCHER := $(if $(shell command -v ccache),-DCMAKE_CXX_COMPILER_LAUNCHER=ccache,)
test-clang: deps
	$(CMAKE) --preset clang $(CCACHE_LAUNCHER)
	$(CMAKE) --build --preset clang -j $(JOBS)
	$(CTEST) --preset clang --output-on-failure -j $(JOBS)

# clang++ + AddressSanitizer (+ LeakSanitizer). No UBSan: clang 14 cannot combine
# -fsanitize=undefined with coroutines.
test-clang-asan: deps
	$(CMAKE) --preset clang-asan $(CCACHE_LAUNCHER)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 $(CMAKE) --build --preset clang-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 $(CTEST) --preset clang-asan --output-on-failure -j $(JOBS)

# API reference (Doxygen) of include/asyncio, HTML in build/docs/html (open index.html).
DOXYGEN ?= doxygen
docs: deps
	mkdir -p build/docs
	ASYNCIO_DOCS_OUT=build/docs ASYNCIO_DOCS_WARN_AS_ERROR=NO ASYNCIO_DOCS_XML=NO $(DOXYGEN) docs/Doxyfile
	@echo "API reference: build/docs/html/index.html"

# Fails on any Doxygen warning (an undocumented public symbol, a wrong @param, ...) and on a
# public function whose documentation does not name its Python counterpart.
docs-check: deps
	rm -rf build/docs-check
	mkdir -p build/docs-check
	ASYNCIO_DOCS_OUT=build/docs-check ASYNCIO_DOCS_WARN_AS_ERROR=FAIL_ON_WARNINGS ASYNCIO_DOCS_XML=YES $(DOXYGEN) docs/Doxyfile
	python3 scripts/check_docs_python.py build/docs-check/xml

bench: deps
	$(CMAKE) --preset release
	$(CMAKE) --build --preset release -j $(JOBS)
	@if [[ -x scripts/bench.sh ]]; then \
	  ./scripts/bench.sh build/release; \
	elif [[ -f scripts/bench.sh ]]; then \
	  bash scripts/bench.sh build/release; \
	else \
	  echo "bench suite not yet built (scripts/bench.sh is missing)"; \
	fi

# ---- Fuzzing (libFuzzer + ASan, clang++; see fuzz/README.md) -------------------------------
# `make fuzz` runs each target FUZZ_SECONDS (new inputs go to build/fuzz/corpus/<target>, crash
# inputs to build/fuzz/artifacts/); `make fuzz-merge` folds the grown corpus into the committed
# fuzz/corpus/<target> (minimized, -merge=1); `make fuzz-ci` replays the committed corpus, then
# fuzzes each target FUZZ_CI_SECONDS. A crash, leak, hang (-timeout) or model mismatch exits
# non-zero.
FUZZ_TARGETS := stream_reader_fuzz tls_record_fuzz
FUZZ_SECONDS ?= 600
FUZZ_CI_SECONDS ?= 45
FUZZ_BIN := build/fuzz/fuzz
FUZZ_ENV := ASAN_OPTIONS=detect_leaks=1
FUZZ_FLAGS := -timeout=30 -rss_limit_mb=4096 -print_final_stats=1

fuzz-build: deps
	$(CMAKE) --preset fuzz
	$(CMAKE) --build --preset fuzz -j $(JOBS)

fuzz: fuzz-build
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t build/fuzz/artifacts; \
	  $(FUZZ_ENV) $(FUZZ_BIN)/$$t $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) \
	    -artifact_prefix=build/fuzz/artifacts/$$t- build/fuzz/corpus/$$t fuzz/corpus/$$t; \
	done

fuzz-merge: fuzz-build
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t; \
	  $(FUZZ_ENV) $(FUZZ_BIN)/$$t -merge=1 fuzz/corpus/$$t build/fuzz/corpus/$$t; \
	done

fuzz-ci: fuzz-build
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz; \
	  $(FUZZ_ENV) $(FUZZ_BIN)/$$t $(FUZZ_FLAGS) fuzz/corpus/$$t/* > build/fuzz/replay-$$t.log 2>&1 \
	    || { tail -n 80 build/fuzz/replay-$$t.log; echo "fuzz-ci: $$t failed on the committed corpus"; exit 1; }; \
	  echo "fuzz-ci: $$t: committed corpus replayed ($$(ls fuzz/corpus/$$t | wc -l) inputs)"; \
	  rm -rf build/fuzz/ci-corpus/$$t; mkdir -p build/fuzz/ci-corpus/$$t build/fuzz/artifacts; \
	  $(FUZZ_ENV) $(FUZZ_BIN)/$$t $(FUZZ_FLAGS) -max_total_time=$(FUZZ_CI_SECONDS) \
	    -artifact_prefix=build/fuzz/artifacts/$$t- build/fuzz/ci-corpus/$$t fuzz/corpus/$$t; \
	done

# Differential testing against CPython 3.12 (tests/difftest/README.md): N random scenarios from
# seed SEED, each run under python3.12 and under the library, outputs compared line by line.
N ?= 5000
SEED ?= 1
DIFFTEST := python3 tests/difftest/run.py --jobs $(JOBS)

difftest: deps
	$(CMAKE) --preset debug
	$(CMAKE) --build --preset debug -j $(JOBS) --target asyncio
	$(DIFFTEST) --first $(SEED) --count $(N)

# The CI slice: a fixed few hundred scenarios (seeds 1..300; compile ~2 min of the budget).
difftest-ci: deps
	$(CMAKE) --preset debug
	$(CMAKE) --build --preset debug -j $(JOBS) --target asyncio
	$(DIFFTEST) --first 1 --count 300 --per 150

format:
	$(FORMAT_FIND) | xargs -0 -r $(CLANG_FORMAT) -i

format-check:
	$(FORMAT_FIND) | xargs -0 -r $(CLANG_FORMAT) --dry-run --Werror

clean:
	rm -rf build
