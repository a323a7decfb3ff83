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

FORMAT_DIRS := $(wildcard include src tests examples bench)
FORMAT_FIND := $(if $(FORMAT_DIRS),find $(FORMAT_DIRS) -type f \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' -o -name '*.c' \) -not -path '*/build/*' -print0,printf '')

.PHONY: all deps build demo test test-debug test-asan test-tsan clang bench format format-check clean difftest difftest-ci

all: build

deps:
	./scripts/install-deps.sh

build: deps
	$(CMAKE) --preset debug
	$(CMAKE) --build --preset debug -j $(JOBS)

demo: build
	./scripts/demo.sh build/debug

# Each step is a separate recipe line: make aborts (non-zero) on the first failure.
test: deps
	$(CMAKE) --preset debug
	$(CMAKE) --build --preset debug -j $(JOBS)
	$(CTEST) --preset debug --output-on-failure -j $(JOBS)
	$(CMAKE) --preset asan
	$(ASAN_ENV) $(CMAKE) --build --preset asan -j $(JOBS)
	$(ASAN_ENV) $(CTEST) --preset asan --output-on-failure -j $(JOBS)
	$(CMAKE) --preset tsan
	$(TSAN_ENV) $(CMAKE) --build --preset tsan -j $(JOBS)
	$(TSAN_ENV) $(CTEST) --preset tsan --output-on-failure -j $(JOBS) --no-tests=ignore

# Compile with clang++ (warnings are errors) -- not part of `make test`.
clang: deps
	$(CMAKE) --preset clang
	$(CMAKE) --build --preset clang -j $(JOBS)

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
