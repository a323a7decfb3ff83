// Fault injection: every special double through every timer API (issue 9, defect 3).
//
// A NaN, infinite, hugely negative or denormal delay or deadline used to overflow the
// conversion to nanoseconds (llround(NaN) is INT64_MIN), after which run_once() overflowed and
// slept for hours, stalling every other timer. Each test below passes each special value and
// checks two things: what CPython 3.12 does with it (run at once, never, TimeoutError...), and
// that an ordinary timer scheduled next to it still fires on time. Run under the asan preset
// too: UBSan reports any signed overflow or out-of-range float conversion left on the way.
//
// CPython's answers (checked by running it): a NaN delay or deadline is due at once (its
// comparisons are all false, so the heap pops it as due); -inf and anything in the past is due
// at once; +inf and anything beyond the clock's range never is. Timeout/wait_for/wait/
// as_completed follow from that: due at once means TimeoutError (or "pending") at once.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <future>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "asyncio/asyncio.hpp"
#include "core_helpers.hpp"

using namespace std::chrono_literals;

namespace {

using asyncio::Coro;
using asyncio::Duration;
using asyncio::EventLoop;

struct Special {
  double value;
  bool due_now;  // CPython runs a timer with this delay (or at this deadline) at once
  const char* name;
};

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMax = std::numeric_limits<double>::max();

// Every value is both a delay and an absolute deadline: the loop's clock (seconds since boot)
// is far from all of them, so "due at once" is the same for both uses.
const std::vector<Special>& specials() {
  static const std::vector<Special> v{
      {std::nan(""), true, "NaN"},
      {-std::nan(""), true, "-NaN"},
      {kInf, false, "+inf"},
      {-kInf, true, "-inf"},
      {1e300, false, "1e300"},
      {-1e300, true, "-1e300"},
      {kMax, false, "DBL_MAX"},
      {-kMax, true, "-DBL_MAX"},
      {9.3e9, false, "9.3e9 s (beyond int64 ns)"},
      {-9.3e9, true, "-9.3e9 s"},
      {-1e12, true, "-1e12"},
      {5e-324, true, "denormal"},
      {-5e-324, true, "-denormal"},
      {std::numeric_limits<double>::min(), true, "DBL_MIN"},
  };
  return v;
}

/// Runs `loop` until an ordinary 20 ms timer fires (or a 5 s guard does); returns what ran,
/// in order, and the seconds it took. `schedule` adds the special timer, which appends
/// "special". The ordinary timer must fire on time whatever the special one is.
template <class F>
std::vector<std::string> run_next_to_ordinary_timer(EventLoop& loop, F schedule, double& took) {
  std::vector<std::string> ran;
  const double t0 = loop.time();
  schedule(ran);
  loop.call_later(20ms, [&] {
    ran.push_back("ordinary");
    loop.stop();
  });
  auto guard = loop.call_later(5s, [&] {
    ran.push_back("guard");
    loop.stop();
  });
  {
    coretest::Watchdog dog(loop, 10s);  // the guard timer cannot fire if the loop is stalled
    loop.run_forever();
    dog.disarm();
    EXPECT_FALSE(dog.fired()) << "hung: stopped by the watchdog";
  }
  guard.cancel();
  took = loop.time() - t0;
  return ran;
}

std::vector<std::string> expected(bool due_now) {
  if (due_now) return {"special", "ordinary"};
  return {"ordinary"};
}

Coro<> nap(Duration d) {
  co_await asyncio::sleep(d);
}

/// Runs `body()` on a fresh loop. Before the fix a special timer made the loop sleep in epoll
/// for a day; the watchdog stops it after 10 s so that the test fails instead of hanging.
template <class F>
void run_bounded(F body) {
  EventLoop loop;
  coretest::Watchdog dog(loop, 10s);
  try {
    loop.run_until_complete(body());
  } catch (const asyncio::RuntimeError& e) {
    ADD_FAILURE() << e.what();
  }
  dog.disarm();
  EXPECT_FALSE(dog.fired()) << "hung: stopped by the watchdog";
  loop.close();
}

bool same_double(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || a == b;
}

TEST(TimerSpecialDoubles, TheSecondsToNanosecondsConversionIsTotal) {
  using asyncio::detail::deadline_ns;
  using asyncio::detail::kMaxTimerNs;
  using asyncio::detail::seconds_to_ns;
  static_assert(seconds_to_ns(1.5, 0) == 1'500'000'000);
  EXPECT_EQ(seconds_to_ns(std::nan(""), 7), 7);
  EXPECT_EQ(seconds_to_ns(-std::nan(""), -7), -7);
  EXPECT_EQ(seconds_to_ns(kInf, 0), kMaxTimerNs);
  EXPECT_EQ(seconds_to_ns(-kInf, 0), -kMaxTimerNs);
  EXPECT_EQ(seconds_to_ns(kMax, 0), kMaxTimerNs);
  EXPECT_EQ(seconds_to_ns(-kMax, 0), -kMaxTimerNs);
  EXPECT_EQ(seconds_to_ns(9.3e9, 0), kMaxTimerNs);
  EXPECT_EQ(seconds_to_ns(-9.3e9, 0), -kMaxTimerNs);
  EXPECT_EQ(seconds_to_ns(5e-324, 0), 0);
  EXPECT_EQ(seconds_to_ns(-5e-324, 0), 0);
  EXPECT_EQ(seconds_to_ns(1.5e-9, 0), 2);  // half away from zero, as llround
  EXPECT_EQ(seconds_to_ns(-1.5e-9, 0), -2);
  EXPECT_EQ(deadline_ns(kMaxTimerNs - 1, kMaxTimerNs), kMaxTimerNs);
  EXPECT_EQ(deadline_ns(0, -kMaxTimerNs), -kMaxTimerNs);
  EXPECT_EQ(deadline_ns(5, 7), 12);
}

TEST(TimerSpecialDoubles, CallLaterRunsAtOnceOrNeverAndNothingStalls) {
  for (const Special& s : specials()) {
    SCOPED_TRACE(s.name);
    EventLoop loop;
    asyncio::TimerHandle h;
    double took = 0;
    auto ran = run_next_to_ordinary_timer(
        loop,
        [&](std::vector<std::string>& out) {
          h = loop.call_later(Duration(s.value), [&out] { out.push_back("special"); });
        },
        took);
    EXPECT_EQ(ran, expected(s.due_now));
    EXPECT_LT(took, 2.0);  // the 20 ms timer was not stalled
    EXPECT_FALSE(h.cancelled());
    h.cancel();
    loop.close();
  }
}

TEST(TimerSpecialDoubles, CallAtRunsAtOnceOrNeverAndWhenIsKept) {
  for (const Special& s : specials()) {
    SCOPED_TRACE(s.name);
    EventLoop loop;
    asyncio::TimerHandle h;
    double took = 0;
    auto ran = run_next_to_ordinary_timer(
        loop,
        [&](std::vector<std::string>& out) {
          h = loop.call_at(s.value, [&out] { out.push_back("special"); });
        },
        took);
    EXPECT_EQ(ran, expected(s.due_now));
    EXPECT_LT(took, 2.0);
    EXPECT_TRUE(same_double(h.when(), s.value)) << h.when();  // CPython: when() is as given
    h.cancel();
    loop.close();
  }
}

TEST(TimerSpecialDoubles, ManySpecialTimersTogetherDoNotStallTheLoop) {
  EventLoop loop;
  std::vector<asyncio::TimerHandle> handles;
  int due = 0;
  double took = 0;
  auto ran = run_next_to_ordinary_timer(
      loop,
      [&](std::vector<std::string>& out) {
        for (const Special& s : specials()) {
          due += s.due_now ? 2 : 0;
          handles.push_back(loop.call_at(s.value, [&out] { out.push_back("special"); }));
          handles.push_back(
              loop.call_later(Duration(s.value), [&out] { out.push_back("special"); }));
        }
      },
      took);
  ASSERT_FALSE(ran.empty());
  EXPECT_EQ(ran.back(), "ordinary");
  EXPECT_EQ(static_cast<int>(ran.size()) - 1, due);
  EXPECT_LT(took, 2.0);
  for (auto& h : handles) h.cancel();
  loop.close();
}

TEST(TimerSpecialDoubles, SleepReturnsAtOnceOrNeverAndOtherTimersFire) {
  for (const Special& s : specials()) {
    SCOPED_TRACE(s.name);
    run_bounded([&]() -> Coro<> {
      auto& loop = asyncio::get_running_loop();
      const double t0 = loop.time();
      auto sleeper = asyncio::create_task([](double v) -> Coro<std::string> {
        co_return co_await asyncio::sleep(Duration(v), std::string("woke"));
      }(s.value));
      co_await asyncio::sleep(20ms);
      EXPECT_LT(loop.time() - t0, 2.0);
      EXPECT_EQ(sleeper.done(), s.due_now);
      if (s.due_now) {
        EXPECT_EQ(sleeper.result(), "woke");
      } else {
        sleeper.cancel();
        EXPECT_THROW(co_await sleeper, asyncio::CancelledError);
      }
    });
  }
}

TEST(TimerSpecialDoubles, WaitForTimesOutAtOnceOrWaitsForTheResult) {
  for (const Special& s : specials()) {
    SCOPED_TRACE(s.name);
    run_bounded([&]() -> Coro<> {
      auto& loop = asyncio::get_running_loop();
      const double t0 = loop.time();
      auto work = asyncio::sleep(20ms, std::string("x"));
      if (s.due_now) {
        EXPECT_THROW(co_await asyncio::wait_for(std::move(work), Duration(s.value)),
                     asyncio::TimeoutError);
      } else {
        EXPECT_EQ(co_await asyncio::wait_for(std::move(work), Duration(s.value)), "x");
      }
      EXPECT_LT(loop.time() - t0, 2.0);
      // A future that is already done is returned whatever the timeout (CPython too).
      auto done = loop.create_future<int>();
      done.set_result(7);
      EXPECT_EQ(co_await asyncio::wait_for(done, Duration(s.value)), 7);
    });
  }
}

TEST(TimerSpecialDoubles, TimeoutTimeoutAtAndRescheduleExpireAtOnceOrNever) {
  for (const Special& s : specials()) {
    SCOPED_TRACE(s.name);
    run_bounded([&]() -> Coro<> {
      auto& loop = asyncio::get_running_loop();
      const double t0 = loop.time();
      auto body = [&](asyncio::Timeout& cm) -> Coro<> {
        EXPECT_TRUE(cm.when().has_value());
        co_await asyncio::sleep(20ms);
      };
      auto check = [&](auto&& scope) -> Coro<> {
        if (s.due_now) {
          EXPECT_THROW(co_await std::move(scope), asyncio::TimeoutError);
        } else {
          EXPECT_NO_THROW(co_await std::move(scope));
        }
      };
      co_await check(asyncio::timeout(Duration(s.value), body));
      co_await check(asyncio::timeout_at(s.value, body));
      co_await check(asyncio::timeout(std::nullopt, [&](asyncio::Timeout& cm) -> Coro<> {
        cm.reschedule(s.value);
        EXPECT_TRUE(same_double(*cm.when(), s.value));  // CPython keeps the value as given
        co_await asyncio::sleep(20ms);
      }));
      EXPECT_LT(loop.time() - t0, 2.0);
    });
  }
}

TEST(TimerSpecialDoubles, WaitAndAsCompletedTimeOutAtOnceOrNever) {
  for (const Special& s : specials()) {
    SCOPED_TRACE(s.name);
    run_bounded([&]() -> Coro<> {
      auto& loop = asyncio::get_running_loop();
      const double t0 = loop.time();
      std::vector<asyncio::Task<void>> tasks{asyncio::create_task(nap(20ms))};
      auto [done, pending] = co_await asyncio::wait(tasks, Duration(s.value));
      EXPECT_EQ(done.size(), s.due_now ? 0u : 1u);
      EXPECT_EQ(pending.size(), s.due_now ? 1u : 0u);
      for (auto& t : pending) t.cancel();

      std::vector<Coro<void>> coros;
      coros.push_back(nap(20ms));
      auto next = asyncio::as_completed(std::move(coros), Duration(s.value));
      if (s.due_now) {
        EXPECT_THROW(co_await std::move(next[0]), asyncio::TimeoutError);
      } else {
        EXPECT_NO_THROW(co_await std::move(next[0]));
      }
      EXPECT_LT(loop.time() - t0, 2.0);
      co_await asyncio::sleep(30ms);  // let the abandoned sleep finish
    });
  }
}

TEST(TimerSpecialDoubles, ConcurrentFutureWaitDoesNotWaitForNaNOrNegative) {
  // CPython: concurrent.futures.Future.result(timeout=nan) raises TimeoutError at once.
  for (const Special& s : specials()) {
    if (!s.due_now) continue;  // +inf waits forever here (CPython: OverflowError); not tested
    SCOPED_TRACE(s.name);
    asyncio::ConcurrentFuture<int> f;
    // Bounds the test if the wait ignores the timeout: the future completes after 5 s.
    std::promise<void> finished;
    std::thread rescuer([&f, done = finished.get_future()] {
      if (done.wait_for(5s) == std::future_status::timeout) f.set_result(0);
    });
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(f.wait(Duration(s.value)));
    EXPECT_THROW(f.result(Duration(s.value)), asyncio::TimeoutError);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    finished.set_value();
    rescuer.join();
  }
}

}  // namespace
