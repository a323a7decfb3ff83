// Boost.Asio (C++20 coroutines: awaitable / co_spawn) version of the micro-workloads, same
// definitions and output as bench/micro/asyncio_micro.cpp. Single-threaded io_context.
//
// Asio has no task handle to await and (in Boost 1.74) no gather or channel, so:
//   - "await a task" = a completion handler counting finished coroutines, and the main
//     coroutine waits for the count on a steady_timer used as an event (cancel() wakes it);
//   - the switch hand-off goes through such a timer-event (the idiomatic Asio event);
//   - gather = co_spawn of N coroutines whose results are stored by index.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../micro/bench_common.hpp"

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using bench::cpu_ns;
using bench::heap_in_use;
using bench::now_ns;
using bench::Result;
using bench::rss_bytes;

namespace {

constexpr const char* kImpl = "boost-asio";

/// An auto-reset event built from a timer that never expires: wait() suspends until set().
struct TimerEvent {
  explicit TimerEvent(asio::any_io_executor ex)
      : timer(ex, asio::steady_timer::time_point::max()) {}
  awaitable<void> wait() {
    if (!flag) {
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    flag = false;
  }
  void set() {
    flag = true;
    timer.cancel();
  }
  asio::steady_timer timer;
  bool flag = false;
};

/// Counts finished coroutines and wakes the waiter when all are done.
struct Join {
  explicit Join(asio::any_io_executor ex, long n) : ev(ex), remaining(n) {}
  void one_done() {
    if (--remaining == 0) ev.set();
  }
  awaitable<void> wait() {
    if (remaining > 0) co_await ev.wait();
  }
  TimerEvent ev;
  long remaining;
};

awaitable<void> trivial() {
  co_return;
}
awaitable<long> value(long i) {
  co_return i;
}

awaitable<void> spawn_main(long n, Result& r) {
  auto ex = co_await asio::this_coro::executor;
  Join join(ex, n);
  const double h0 = heap_in_use(), r0 = rss_bytes();
  const auto t0 = cpu_ns();
  bench::region_begin();
  for (long i = 0; i < n; ++i) {
    asio::co_spawn(ex, trivial(), [&join](std::exception_ptr) { join.one_done(); });
  }
  bench::region_end();
  const double h1 = heap_in_use(), r1 = rss_bytes();
  bench::region_begin();
  co_await join.wait();
  bench::region_end();
  const auto t1 = cpu_ns();
  const double dt = static_cast<double>(t1 - t0);
  r.set("ns_per_task", dt / n);
  r.set("tasks_per_s", n / (dt / 1e9));
  r.set("heap_bytes_per_task", (h1 - h0) / n);
  r.set("rss_bytes_per_task", (r1 - r0) / n);
}

awaitable<long> chain(long depth) {
  if (depth == 0) co_return 0;
  co_return co_await chain(depth - 1) + 1;
}

awaitable<void> chain_main(long n, long depth, Result& r) {
  long sum = co_await chain(depth);
  const auto t0 = cpu_ns();
  bench::region_begin();
  for (long i = 0; i < n; ++i) sum += co_await chain(depth);
  bench::region_end();
  const auto t1 = cpu_ns();
  if (sum != (n + 1) * depth) std::fprintf(stderr, "chain: wrong sum %ld\n", sum);
  r.set("ns_per_level", static_cast<double>(t1 - t0) / (static_cast<double>(n) * depth));
}

struct PingPong {
  explicit PingPong(asio::any_io_executor ex) : a(ex), b(ex) {}
  TimerEvent a, b;
};

awaitable<void> ping(PingPong& s, long n) {
  for (long i = 0; i < n; ++i) {
    s.b.set();
    co_await s.a.wait();
  }
}
awaitable<void> pong(PingPong& s, long n) {
  for (long i = 0; i < n; ++i) {
    co_await s.b.wait();
    s.a.set();
  }
}

awaitable<void> switch_main(long n, Result& r) {
  auto ex = co_await asio::this_coro::executor;
  PingPong s(ex);
  Join join(ex, 2);
  const auto t0 = cpu_ns();
  bench::region_begin();
  asio::co_spawn(ex, pong(s, n), [&join](std::exception_ptr) { join.one_done(); });
  asio::co_spawn(ex, ping(s, n), [&join](std::exception_ptr) { join.one_done(); });
  co_await join.wait();
  bench::region_end();
  const auto t1 = cpu_ns();
  r.set("ns_per_switch", static_cast<double>(t1 - t0) / (2.0 * n));
}

awaitable<void> sleeper(double delay) {
  asio::steady_timer t(co_await asio::this_coro::executor,
                       std::chrono::duration_cast<asio::steady_timer::duration>(
                           std::chrono::duration<double>(delay)));
  co_await t.async_wait(use_awaitable);
}

awaitable<void> sleepers_main(long n, double delay, Result& r) {
  auto ex = co_await asio::this_coro::executor;
  Join join(ex, n);
  const double h0 = heap_in_use(), r0 = rss_bytes();
  const auto t0 = now_ns();
  const auto c0 = cpu_ns();
  bench::region_begin();
  for (long i = 0; i < n; ++i) {
    asio::co_spawn(ex, sleeper(delay), [&join](std::exception_ptr) { join.one_done(); });
  }
  const auto c_created = cpu_ns();
  co_await asio::post(ex, use_awaitable);  // every coroutine has started and is waiting
  bench::region_end();
  const double h1 = heap_in_use(), r1 = rss_bytes();
  bench::region_begin();
  co_await join.wait();
  bench::region_end();
  const auto t1 = now_ns();
  const auto c1 = cpu_ns();
  r.set("wall_s", static_cast<double>(t1 - t0) / 1e9);
  r.set("create_ns_per_task", static_cast<double>(c_created - c0) / n);
  r.set("cpu_s", static_cast<double>(c1 - c0) / 1e9);
  r.set("overhead_s", static_cast<double>(t1 - t0) / 1e9 - delay);
  r.set("heap_bytes_per_task", (h1 - h0) / n);
  r.set("rss_bytes_per_task", (r1 - r0) / n);
}

awaitable<void> gather_main(long n, Result& r) {
  auto ex = co_await asio::this_coro::executor;
  const double r0 = rss_bytes();
  const auto t0 = cpu_ns();
  bench::region_begin();
  std::vector<long> out(static_cast<std::size_t>(n));
  Join join(ex, n);
  for (long i = 0; i < n; ++i) {
    asio::co_spawn(ex, value(i), [&join, &out, i](std::exception_ptr, long v) {
      out[static_cast<std::size_t>(i)] = v;
      join.one_done();
    });
  }
  co_await join.wait();
  bench::region_end();
  const auto t1 = cpu_ns();
  const double r1 = rss_bytes();
  if (out.back() != n - 1) std::fprintf(stderr, "gather: bad result\n");
  const double dt = static_cast<double>(t1 - t0);
  r.set("ns_per_task", dt / n);
  r.set("tasks_per_s", n / (dt / 1e9));
  r.set("rss_bytes_per_task", (r1 - r0) / n);
}

awaitable<void> timers_main(long n, Result& r) {
  auto ex = co_await asio::this_coro::executor;
  const long expected = n - n / 2;
  Join join(ex, expected);
  std::vector<std::unique_ptr<asio::steady_timer>> timers;
  timers.reserve(static_cast<std::size_t>(n));
  bench::Lcg lcg;
  Join* jp = &join;
  const double h0 = heap_in_use(), r0 = rss_bytes();
  const auto t0 = cpu_ns();
  bench::region_begin("insert");
  for (long i = 0; i < n; ++i) {
    auto t = std::make_unique<asio::steady_timer>(
        ex, std::chrono::duration_cast<asio::steady_timer::duration>(
                std::chrono::duration<double>(0.1 + 0.1 * lcg.next01())));
    t->async_wait([jp](const boost::system::error_code& ec) {
      if (!ec) jp->one_done();
    });
    timers.push_back(std::move(t));
  }
  bench::region_end("insert");
  const auto t1 = cpu_ns();
  const double h1 = heap_in_use(), r1 = rss_bytes();
  bench::region_begin("cancel");
  for (long i = 1; i < n; i += 2) {
    timers[static_cast<std::size_t>(i)]->cancel();
    timers[static_cast<std::size_t>(i)].reset();
  }
  bench::region_end("cancel");
  const auto t2 = cpu_ns();
  const double h2 = heap_in_use(), r2 = rss_bytes();
  bench::region_begin("fire");
  co_await join.wait();
  bench::region_end("fire");
  const auto t3 = cpu_ns();
  timers.clear();
  const double h3 = heap_in_use();
  r.set("insert_ns", static_cast<double>(t1 - t0) / n);
  r.set("cancel_ns", static_cast<double>(t2 - t1) / (n / 2));
  r.set("fire_ns", static_cast<double>(t3 - t2) / expected);
  r.set("heap_bytes_per_timer", (h1 - h0) / n);
  r.set("heap_bytes_per_timer_after_cancel", (h2 - h0) / n);
  r.set("retained_after_cancel_pct", (h1 > h0) ? 100.0 * (h2 - h0) / (h1 - h0) : 0.0);
  r.set("heap_bytes_per_timer_after_run", (h3 - h0) / n);
  r.set("rss_bytes_per_timer", (r1 - r0) / n);
  r.set("rss_bytes_per_timer_after_cancel", (r2 - r0) / n);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args = bench::Args::parse(argc, argv);
  const std::string& w = args.workload;
  long n = args.get("n", 0);
  asio::io_context io(1);
  std::optional<Result> r;
  auto start = [&](long def, awaitable<void> (*make)(long, Result&)) {
    if (!n) n = def;
    r.emplace(kImpl, w, n);
    asio::co_spawn(io, make(n, *r), asio::detached);
  };
  if (w == "spawn") {
    start(1000000, spawn_main);
  } else if (w == "chain") {
    if (!n) n = 2000;
    r.emplace(kImpl, w, n);
    asio::co_spawn(io, chain_main(n, args.get("depth", 1000), *r), asio::detached);
  } else if (w == "switch_timer_event") {
    start(500000, switch_main);
  } else if (w == "sleepers") {
    if (!n) n = 1000000;
    r.emplace(kImpl, w, n);
    asio::co_spawn(io, sleepers_main(n, args.getf("delay", 1.0), *r), asio::detached);
  } else if (w == "gather") {
    start(100000, gather_main);
  } else if (w == "timers") {
    start(1000000, timers_main);
  } else {
    std::fprintf(stderr, "unknown workload %s\n", w.c_str());
    return 2;
  }
  io.run();
  r->print();
  return 0;
}
