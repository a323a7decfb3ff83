// Shared helpers of the C++ micro-benchmarks (ours and the Boost.Asio peer): command line,
// clocks, memory checkpoints, callgrind phase markers and the one-line JSON result.
//
// Every benchmark binary runs ONE workload per process and prints one JSON object on stdout:
//   {"impl": "...", "workload": "...", "n": N, "metrics": {"ns_per_task": 12.3, ...}}
// The harness (bench/harness.py) runs the alternatives interleaved round by round.
#pragma once

#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define BENCH_HAVE_CALLGRIND 1
#else
#define BENCH_HAVE_CALLGRIND 0
#endif

namespace bench {

/// Measured regions for callgrind: instruction counts are collected between region_begin()
/// and region_end() only (the harness runs the binary with --collect-atstart=no). With
/// `--phase NAME` on the command line only the regions of that name are collected (e.g. the
/// timers' insert, cancel and fire phases one at a time). A few instructions outside valgrind.
/// Regions must not nest.
inline std::string& selected_phase() {
  static std::string phase = "all";
  return phase;
}
inline bool phase_selected(const char* phase) {
  return selected_phase() == "all" || selected_phase() == phase;
}
inline void region_begin(const char* phase = "") {
#if BENCH_HAVE_CALLGRIND
  if (phase_selected(phase)) CALLGRIND_TOGGLE_COLLECT;
#else
  (void)phase;
#endif
}
inline void region_end(const char* phase = "") {
#if BENCH_HAVE_CALLGRIND
  if (phase_selected(phase)) CALLGRIND_TOGGLE_COLLECT;
#else
  (void)phase;
#endif
}

/// Parsed `workload --key value ...` command line.
struct Args {
  std::string workload;
  std::map<std::string, std::string> kv;

  static Args parse(int argc, char** argv) {
    Args a;
    if (argc < 2) {
      std::fprintf(stderr, "usage: %s WORKLOAD [--n N] [--depth D] [--delay S] ...\n", argv[0]);
      std::exit(2);
    }
    a.workload = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
      std::string k = argv[i];
      if (k.rfind("--", 0) == 0) k = k.substr(2);
      a.kv[k] = argv[i + 1];
    }
    if (a.kv.count("phase")) selected_phase() = a.kv["phase"];
    return a;
  }
  long get(const std::string& k, long def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::strtol(it->second.c_str(), nullptr, 10);
  }
  double getf(const std::string& k, double def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::strtod(it->second.c_str(), nullptr);
  }
};

/// CPU time of the process (user + system), ns. The per-operation figures use it rather than
/// the wall clock: on a shared machine a process waiting for a CPU accumulates wall time but
/// not CPU time. Page faults and allocator system calls are included (system time).
inline std::int64_t cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

/// Wall clock (steady), ns.
inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Bytes in use by malloc right now (small chunks + mmapped chunks): what a program really
/// holds, chunk headers and rounding included. Costs nothing per allocation.
inline double heap_in_use() {
  struct mallinfo2 mi = mallinfo2();
  return static_cast<double>(mi.uordblks + mi.hblkhd);
}

/// Resident set size in bytes (from /proc/self/statm).
inline double rss_bytes() {
  long pages_total = 0, pages_rss = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_rss) != 2) pages_rss = 0;
    std::fclose(f);
  }
  return static_cast<double>(pages_rss) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

/// The result line.
class Result {
 public:
  Result(std::string impl, std::string workload, long n)
      : impl_(std::move(impl)), workload_(std::move(workload)), n_(n) {}
  void set(const std::string& key, double v) { metrics_.emplace_back(key, v); }
  void print() const {
    std::printf("{\"impl\": \"%s\", \"workload\": \"%s\", \"n\": %ld, \"metrics\": {",
                impl_.c_str(), workload_.c_str(), n_);
    for (std::size_t i = 0; i < metrics_.size(); ++i) {
      std::printf("%s\"%s\": %.6g", i ? ", " : "", metrics_[i].first.c_str(), metrics_[i].second);
    }
    std::printf("}}\n");
    std::fflush(stdout);
  }

 private:
  std::string impl_, workload_;
  long n_;
  std::vector<std::pair<std::string, double>> metrics_;
};

/// Deterministic pseudo-random delays for the timers workload (same sequence in every peer:
/// 0.1 s + x * 0.1 s with x from a 32-bit LCG).
struct Lcg {
  std::uint32_t s = 12345;
  double next01() {
    s = s * 1664525u + 1013904223u;
    return static_cast<double>(s >> 8) / static_cast<double>(1u << 24);
  }
};

}  // namespace bench
