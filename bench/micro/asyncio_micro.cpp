// Micro-workloads of our library. One workload per process; see bench/README.md for the exact
// definition of each (the Python, uvloop and Boost.Asio peers in bench/peers/ do the same).
//
//   asyncio_micro spawn    --n 1000000   create_task + await of N trivial tasks
//                          [--factory eager]   ... with loop.set_task_factory(eager_task_factory)
//   asyncio_micro chain    --n 2000 --depth 1000   await chain, N times a chain of depth D
//   asyncio_micro switch_future --n 500000   two tasks handing off through Future<void>s
//   asyncio_micro sleepers --n 1000000 --delay 1   N concurrent sleep(delay)
//   asyncio_micro gather   --n 100000    gather() of N coroutines
//   asyncio_micro timers   --n 1000000   N call_later, every other one cancelled, rest fire
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "bench_common.hpp"

namespace {

using asyncio::Coro;
using bench::cpu_ns;
using bench::heap_in_use;
using bench::now_ns;
using bench::Result;
using bench::rss_bytes;

constexpr const char* kImpl = "asyncio-cpp";

Coro<void> trivial() {
  co_return;
}
Coro<long> value(long i) {
  co_return i;
}

// ---- spawn ----------------------------------------------------------------------------------
/// `--factory eager`: each trivial task then runs to completion inside create_task() and is
/// never scheduled (Python 3.12's eager_task_factory).
bool g_eager_factory = false;

Coro<void> spawn_main(long n, Result& r) {
  if (g_eager_factory) asyncio::get_running_loop().set_task_factory(asyncio::eager_task_factory);
  // The coroutine frame of trivial(), as malloc sees it (header and rounding included).
  {
    std::vector<Coro<void>> probe;
    probe.reserve(1000);
    double h0 = heap_in_use();
    for (int i = 0; i < 1000; ++i) probe.push_back(trivial());
    r.set("frame_bytes", (heap_in_use() - h0) / 1000);
  }
  std::vector<asyncio::Task<void>> tasks;
  tasks.reserve(static_cast<std::size_t>(n));
  const double h0 = heap_in_use(), r0 = rss_bytes();
  const auto t0 = cpu_ns();
  bench::region_begin();
  for (long i = 0; i < n; ++i) tasks.push_back(asyncio::create_task(trivial()));
  bench::region_end();
  const double h1 = heap_in_use(), r1 = rss_bytes();  // the peak: every task and frame exists
  bench::region_begin();
  for (auto& t : tasks) co_await t;
  bench::region_end();
  const auto t1 = cpu_ns();
  const double dt = static_cast<double>(t1 - t0);
  r.set("ns_per_task", dt / n);
  r.set("tasks_per_s", n / (dt / 1e9));
  r.set("heap_bytes_per_task", (h1 - h0) / n);
  r.set("rss_bytes_per_task", (r1 - r0) / n);
}

// ---- await chain ----------------------------------------------------------------------------
Coro<long> chain(long depth) {
  if (depth == 0) co_return 0;
  co_return co_await chain(depth - 1) + 1;
}

Coro<void> chain_main(long n, long depth, Result& r) {
  long sum = co_await chain(depth);  // warm the allocator
  const auto t0 = cpu_ns();
  bench::region_begin();
  for (long i = 0; i < n; ++i) sum += co_await chain(depth);
  bench::region_end();
  const auto t1 = cpu_ns();
  if (sum != (n + 1) * depth) std::fprintf(stderr, "chain: wrong sum %ld\n", sum);
  r.set("ns_per_level", static_cast<double>(t1 - t0) / (static_cast<double>(n) * depth));
}

// ---- switch through Future<void> ------------------------------------------------------------
struct PingPong {
  asyncio::Future<void> wake_a, wake_b;
};

Coro<void> ping(PingPong& s, long n) {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  for (long i = 0; i < n; ++i) {
    s.wake_a = loop.create_future<void>();
    s.wake_b.set_result();
    co_await s.wake_a;
  }
}

Coro<void> pong(PingPong& s, long n) {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  for (long i = 0; i < n; ++i) {
    co_await s.wake_b;
    s.wake_b = loop.create_future<void>();
    s.wake_a.set_result();
  }
}

Coro<void> switch_future_main(long n, Result& r) {
  PingPong s;
  s.wake_b = asyncio::get_running_loop().create_future<void>();
  const auto t0 = cpu_ns();
  bench::region_begin();
  auto b = asyncio::create_task(pong(s, n));
  auto a = asyncio::create_task(ping(s, n));
  co_await a;
  co_await b;
  bench::region_end();
  const auto t1 = cpu_ns();
  r.set("ns_per_switch", static_cast<double>(t1 - t0) / (2.0 * n));
}

// ---- sleepers -------------------------------------------------------------------------------
Coro<void> sleeper(double delay) {
  co_await asyncio::sleep(asyncio::Duration(delay));
}

Coro<void> sleepers_main(long n, double delay, Result& r) {
  std::vector<asyncio::Task<void>> tasks;
  tasks.reserve(static_cast<std::size_t>(n));
  const double h0 = heap_in_use(), r0 = rss_bytes();
  const auto t0 = now_ns();
  const auto c0 = cpu_ns();
  bench::region_begin();
  for (long i = 0; i < n; ++i) tasks.push_back(asyncio::create_task(sleeper(delay)));
  const auto c_created = cpu_ns();
  co_await asyncio::sleep(
      asyncio::Duration(0));  // one iteration: every task has started and is sleeping
  bench::region_end();
  // Right after the burst: includes the ready queue grown to hold every first step.
  const double h_peak = heap_in_use();
  // While they sleep (the loop has gone idle once and given the burst's ready queue back):
  // what each sleeping task costs.
  co_await asyncio::sleep(asyncio::Duration(delay / 4));
  const double h1 = heap_in_use(), r1 = rss_bytes();
  bench::region_begin();
  for (auto& t : tasks) co_await t;
  bench::region_end();
  const auto t1 = now_ns();
  const auto c1 = cpu_ns();
  r.set("wall_s", static_cast<double>(t1 - t0) / 1e9);
  r.set("create_ns_per_task", static_cast<double>(c_created - c0) / n);
  r.set("cpu_s", static_cast<double>(c1 - c0) / 1e9);
  r.set("overhead_s", static_cast<double>(t1 - t0) / 1e9 - delay);
  r.set("heap_bytes_per_task", (h1 - h0) / n);
  r.set("peak_heap_bytes_per_task", (h_peak - h0) / n);
  r.set("rss_bytes_per_task", (r1 - r0) / n);
}

// ---- gather ---------------------------------------------------------------------------------
Coro<void> gather_main(long n, Result& r) {
  const double r0 = rss_bytes();
  const auto t0 = cpu_ns();
  bench::region_begin();
  std::vector<Coro<long>> coros;
  coros.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) coros.push_back(value(i));
  std::vector<long> out = co_await asyncio::gather(std::move(coros));
  bench::region_end();
  const auto t1 = cpu_ns();
  const double r1 = rss_bytes();
  if (static_cast<long>(out.size()) != n || out.back() != n - 1)
    std::fprintf(stderr, "gather: bad result\n");
  const double dt = static_cast<double>(t1 - t0);
  r.set("ns_per_task", dt / n);
  r.set("tasks_per_s", n / (dt / 1e9));
  r.set("rss_bytes_per_task", (r1 - r0) / n);
}

// ---- timers ---------------------------------------------------------------------------------
struct TimerState {
  long fired = 0;
  long expected = 0;
  asyncio::Future<void> done;
  void on_fire() {
    if (++fired == expected) done.set_result();
  }
};

Coro<void> timers_main(long n, Result& r) {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  TimerState st;
  st.expected = n - n / 2;
  st.done = loop.create_future<void>();
  std::vector<asyncio::TimerHandle> handles;
  handles.reserve(static_cast<std::size_t>(n));
  bench::Lcg lcg;
  TimerState* sp = &st;
  const double h0 = heap_in_use(), r0 = rss_bytes();
  const auto t0 = cpu_ns();
  bench::region_begin("insert");
  for (long i = 0; i < n; ++i) {
    handles.push_back(
        loop.call_later(asyncio::Duration(0.1 + 0.1 * lcg.next01()), [sp] { sp->on_fire(); }));
  }
  bench::region_end("insert");
  const auto t1 = cpu_ns();
  const double h1 = heap_in_use(), r1 = rss_bytes();
  bench::region_begin("cancel");
  for (long i = 1; i < n; i += 2) {
    handles[static_cast<std::size_t>(i)].cancel();
    handles[static_cast<std::size_t>(i)] = asyncio::TimerHandle();  // drop our reference
  }
  bench::region_end("cancel");
  const auto t2 = cpu_ns();
  const double h2 = heap_in_use(), r2 = rss_bytes();
  bench::region_begin("fire");
  co_await st.done;
  bench::region_end("fire");
  const auto t3 = cpu_ns();
  handles.clear();
  const double h3 = heap_in_use();
  r.set("insert_ns", static_cast<double>(t1 - t0) / n);
  r.set("cancel_ns", static_cast<double>(t2 - t1) / (n / 2));
  r.set("fire_ns", static_cast<double>(t3 - t2) / st.expected);
  r.set("heap_bytes_per_timer", (h1 - h0) / n);
  r.set("heap_bytes_per_timer_after_cancel", (h2 - h0) / n);
  r.set("retained_after_cancel_pct", (h1 > h0) ? 100.0 * (h2 - h0) / (h1 - h0) : 0.0);
  r.set("heap_bytes_per_timer_after_run", (h3 - h0) / n);
  r.set("rss_bytes_per_timer", (r1 - r0) / n);
  r.set("rss_bytes_per_timer_after_cancel", (r2 - r0) / n);
}

/// How the main coroutine runs: asyncio::run() (what programs write; the Runner installs a
/// SIGINT handler, i.e. a self-pipe watched by the loop), or with `--runner loop` a bare
/// EventLoop's run_until_complete() (no fd watched at all).
bool g_bare_loop = false;
void run_main(Coro<void> coro) {
  if (g_bare_loop) {
    asyncio::EventLoop loop;
    loop.run_until_complete(std::move(coro));
    loop.close();
  } else {
    asyncio::run(std::move(coro));
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args = bench::Args::parse(argc, argv);
  const std::string& w = args.workload;
  long n = args.get("n", 0);
  g_bare_loop = args.kv.count("runner") && args.kv["runner"] == "loop";
  g_eager_factory = args.kv.count("factory") && args.kv["factory"] == "eager";
  if (w == "spawn") {
    if (!n) n = 1000000;
    Result r(kImpl, w, n);
    run_main(spawn_main(n, r));
    r.print();
  } else if (w == "chain") {
    if (!n) n = 2000;
    Result r(kImpl, w, n);
    run_main(chain_main(n, args.get("depth", 1000), r));
    r.print();
  } else if (w == "switch_future") {
    if (!n) n = 500000;
    Result r(kImpl, w, n);
    run_main(switch_future_main(n, r));
    r.print();
  } else if (w == "sleepers") {
    if (!n) n = 1000000;
    Result r(kImpl, w, n);
    run_main(sleepers_main(n, args.getf("delay", 1.0), r));
    r.print();
  } else if (w == "gather") {
    if (!n) n = 100000;
    Result r(kImpl, w, n);
    run_main(gather_main(n, r));
    r.print();
  } else if (w == "timers") {
    if (!n) n = 1000000;
    Result r(kImpl, w, n);
    run_main(timers_main(n, r));
    r.print();
  } else {
    std::fprintf(stderr, "unknown workload %s\n", w.c_str());
    return 2;
  }
  return 0;
}
