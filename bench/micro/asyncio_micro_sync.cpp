// The switch workload through our synchronization primitives (asyncio::Event, asyncio::Queue).
// Built on its own (EXCLUDE_FROM_ALL) because those headers are young: if this does not
// compile, the harness shows "not built" for these rows and the rest of the suite runs.
//
//   asyncio_micro_sync switch_event --n 500000   two tasks, two Events: set / wait / clear
//   asyncio_micro_sync switch_queue --n 500000   two tasks, two Queues: put_nowait / get
//   asyncio_micro_sync lock --n 2000000          uncontended Lock: acquire + release
//   asyncio_micro_sync lock_guard --n 2000000    uncontended Lock: co_await lock.lock() guard
//   asyncio_micro_sync to_thread --n 20000       to_thread(trivial fn) round trips, one by one
#include <asyncio/asyncio.hpp>

#if __has_include(<asyncio/event.hpp>)
#include <asyncio/event.hpp>
#define BENCH_HAVE_EVENT 1
#endif
#if __has_include(<asyncio/queues.hpp>)
#include <asyncio/queues.hpp>
#define BENCH_HAVE_QUEUE 1
#endif

#include <cstdio>
#include <string>

#include "bench_common.hpp"

namespace {

using asyncio::Coro;
using bench::cpu_ns;
using bench::Result;

constexpr const char* kImpl = "asyncio-cpp";

#ifdef BENCH_HAVE_EVENT
struct Events {
  asyncio::Event a, b;
};

Coro<void> ev_ping(Events& s, long n) {
  for (long i = 0; i < n; ++i) {
    s.b.set();
    co_await s.a.wait();
    s.a.clear();
  }
}
Coro<void> ev_pong(Events& s, long n) {
  for (long i = 0; i < n; ++i) {
    co_await s.b.wait();
    s.b.clear();
    s.a.set();
  }
}

Coro<void> switch_event_main(long n, Result& r) {
  Events s;
  const auto t0 = cpu_ns();
  bench::region_begin();
  auto b = asyncio::create_task(ev_pong(s, n));
  auto a = asyncio::create_task(ev_ping(s, n));
  co_await a;
  co_await b;
  bench::region_end();
  const auto t1 = cpu_ns();
  r.set("ns_per_switch", static_cast<double>(t1 - t0) / (2.0 * n));
}
#endif

#ifdef BENCH_HAVE_QUEUE
struct Queues {
  asyncio::Queue<long> a, b;
};

Coro<void> q_ping(Queues& s, long n) {
  for (long i = 0; i < n; ++i) {
    s.b.put_nowait(i);
    long v = co_await s.a.get();
    (void)v;
  }
}
Coro<void> q_pong(Queues& s, long n) {
  for (long i = 0; i < n; ++i) {
    long v = co_await s.b.get();
    s.a.put_nowait(v);
  }
}

Coro<void> switch_queue_main(long n, Result& r) {
  Queues s;
  const auto t0 = cpu_ns();
  bench::region_begin();
  auto b = asyncio::create_task(q_pong(s, n));
  auto a = asyncio::create_task(q_ping(s, n));
  co_await a;
  co_await b;
  bench::region_end();
  const auto t1 = cpu_ns();
  r.set("ns_per_switch", static_cast<double>(t1 - t0) / (2.0 * n));
}
#endif

Coro<void> lock_main(long n, Result& r) {
  asyncio::Lock lock;
  const auto t0 = cpu_ns();
  bench::region_begin();
  for (long i = 0; i < n; ++i) {
    co_await lock.acquire();
    lock.release();
  }
  bench::region_end();
  const auto t1 = cpu_ns();
  r.set("ns_per_op", static_cast<double>(t1 - t0) / static_cast<double>(n));
}

Coro<void> lock_guard_main(long n, Result& r) {
  asyncio::Lock lock;
  const auto t0 = cpu_ns();
  bench::region_begin();
  for (long i = 0; i < n; ++i) {
    auto guard = co_await lock.lock();
  }
  bench::region_end();
  const auto t1 = cpu_ns();
  r.set("ns_per_op", static_cast<double>(t1 - t0) / static_cast<double>(n));
}

long add_one(long v) {
  return v + 1;
}

// Wall time (the work is split between the loop thread and a pool thread, and most of a
// round trip is the two threads waking each other).
Coro<void> to_thread_main(long n, Result& r) {
  co_await asyncio::to_thread(add_one, 0L);  // start the default pool's first thread
  long sum = 0;
  const auto t0 = bench::now_ns();
  const auto c0 = cpu_ns();
  bench::region_begin();
  for (long i = 0; i < n; ++i) sum = co_await asyncio::to_thread(add_one, sum);
  bench::region_end();
  const auto c1 = cpu_ns();
  const auto t1 = bench::now_ns();
  if (sum != n) std::fprintf(stderr, "to_thread: wrong sum %ld\n", sum);
  r.set("ns_per_op", static_cast<double>(t1 - t0) / static_cast<double>(n));
  r.set("cpu_ns_per_op", static_cast<double>(c1 - c0) / static_cast<double>(n));
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args = bench::Args::parse(argc, argv);
  const std::string& w = args.workload;
  long n = args.get("n", 500000);
#ifdef BENCH_HAVE_EVENT
  if (w == "switch_event") {
    Result r(kImpl, w, n);
    asyncio::run(switch_event_main(n, r));
    r.print();
    return 0;
  }
#endif
#ifdef BENCH_HAVE_QUEUE
  if (w == "switch_queue") {
    Result r(kImpl, w, n);
    asyncio::run(switch_queue_main(n, r));
    r.print();
    return 0;
  }
#endif
  if (w == "lock" || w == "lock_guard" || w == "to_thread") {
    if (w == "to_thread")
      n = args.get("n", 20000);
    else
      n = args.get("n", 2000000);
    Result r(kImpl, w, n);
    if (w == "lock") asyncio::run(lock_main(n, r));
    if (w == "lock_guard") asyncio::run(lock_guard_main(n, r));
    if (w == "to_thread") asyncio::run(to_thread_main(n, r));
    r.print();
    return 0;
  }
  std::fprintf(stderr, "workload %s not available in this build\n", w.c_str());
  return 3;
}
