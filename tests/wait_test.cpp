// Tests of wait() and as_completed() (Python: the wait/as_completed cases of
// test_asyncio/test_tasks.py): return_when modes with and without timeout (nothing is ever
// cancelled), empty input, duplicates, completion order, timeouts, and cancelling the task
// that waits.
//
// Ordering relies on the loop's guarantees only: timers run in deadline order and sleep(0s)
// yields exactly one iteration. Wall-clock bounds, where checked at all, are generous upper
// bounds that only catch "the deadline was ignored", or lower bounds that timers guarantee
// (a timer never fires early).
#include <gtest/gtest.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "asyncio/asyncio.hpp"
#include "hl_helpers.hpp"

using namespace std::chrono_literals;

namespace {

using namespace hltest;

using asyncio::CancelledError;
using asyncio::Coro;
using asyncio::Duration;
using asyncio::TimeoutError;

using asyncio::Task;
using StrTasks = std::vector<Task<std::string>>;
using VoidTasks = std::vector<Task<void>>;

Coro<> nap(Duration d) {
  co_await asyncio::sleep(d);
}

Coro<std::string> sleep_value(Duration d, std::string v) {
  co_await asyncio::sleep(d);
  co_return v;
}

struct BoomError : std::runtime_error {
  BoomError() : std::runtime_error("boom") {}
};

Coro<std::string> fail_after(Duration d) {
  co_await asyncio::sleep(d);
  throw BoomError();
}

template <class V, class H>
bool has(const V& v, const H& h) {
  return std::any_of(v.begin(), v.end(), [&](const auto& x) { return x == h; });
}

// Cancels `t` and waits until it is done (cleanup of tasks a test left pending).
template <class H>
Coro<> cancel_and_wait(H t) {
  t.cancel();
  co_await error_of(t);
}

// ---- wait() ------------------------------------------------------------------------------------

// test_wait: ALL_COMPLETED; a second wait on done tasks returns at once.
TEST(Wait, AllCompleted) {
  run_main([&]() -> Coro<> {
    const double t0 = now();
    Task<void> a = asyncio::create_task(nap(10ms));
    Task<void> b = asyncio::create_task(nap(15ms));
    auto [done, pending] = co_await asyncio::wait(vec(b, a));
    EXPECT_EQ(done.size(), 2u);
    EXPECT_TRUE(pending.empty());
    EXPECT_TRUE(has(done, a) && has(done, b));
    if (done.size() == 2) {
      EXPECT_TRUE(done[0] == b && done[1] == a);  // input order
    }
    EXPECT_TRUE(a.done() && b.done());
    EXPECT_GE(now() - t0, 0.0149);  // sleeps never end early
    // Again: all done already.
    auto again = co_await asyncio::wait(vec(b, a));
    EXPECT_EQ(again.done.size(), 2u);
    EXPECT_TRUE(again.pending.empty());
  });
}

TEST(Wait, DuplicatesAreDropped) {
  run_main([&]() -> Coro<> {
    auto coro = [](std::string s) -> Coro<std::string> { co_return s; };
    Task<std::string> c = asyncio::create_task(coro("test"));
    Task<std::string> d = asyncio::create_task(coro("spam"));
    auto [done, pending] = co_await asyncio::wait(vec(c, c, d));
    EXPECT_TRUE(pending.empty());
    EXPECT_EQ(done.size(), 2u);
    std::set<std::string> results;
    for (auto& t : done) results.insert(t.result());
    EXPECT_EQ(results, (std::set<std::string>{"test", "spam"}));
  });
}

TEST(Wait, EmptyIsValueError) {
  run_main([&]() -> Coro<> {
    std::exception_ptr err = co_await error_of(asyncio::wait(VoidTasks{}));
    EXPECT_TRUE(holds<asyncio::ValueError>(err)) << what_of(err);
    err = co_await error_of(asyncio::wait(VoidTasks{}, 1s, asyncio::FIRST_COMPLETED));
    EXPECT_TRUE(holds<asyncio::ValueError>(err)) << what_of(err);
    err = co_await error_of(
        asyncio::wait(std::vector<asyncio::Future<int>>{}, std::nullopt, asyncio::FIRST_EXCEPTION));
    EXPECT_TRUE(holds<asyncio::ValueError>(err)) << what_of(err);
  });
}

TEST(Wait, FirstCompleted) {
  run_main([&]() -> Coro<> {
    Task<void> a = asyncio::create_task(nap(10s));
    Task<void> b = asyncio::create_task(nap(10ms));
    auto [done, pending] = co_await asyncio::wait(vec(b, a), asyncio::FIRST_COMPLETED);
    EXPECT_EQ(done.size(), 1u);
    EXPECT_TRUE(has(done, b));
    EXPECT_EQ(pending.size(), 1u);
    EXPECT_TRUE(has(pending, a));
    EXPECT_FALSE(a.done());
    EXPECT_FALSE(a.cancelled());
    EXPECT_TRUE(b.done());
    co_await cancel_and_wait(a);
  });
}

// test_wait_really_done: a task that completed while wait() was being woken is reported done
// although its own completion callback has not run yet.
TEST(Wait, ReallyDone) {
  run_main([&]() -> Coro<> {
    auto coro1 = []() -> Coro<> { co_await asyncio::sleep(0s); };
    auto coro2 = []() -> Coro<> {
      co_await asyncio::sleep(0s);
      co_await asyncio::sleep(0s);
    };
    Task<void> a = asyncio::create_task(coro1());
    Task<void> b = asyncio::create_task(coro2());
    Task<asyncio::WaitResult<Task<void>>> w =
        asyncio::create_task(asyncio::wait(vec(b, a), asyncio::FIRST_COMPLETED));
    auto [done, pending] = co_await w;
    EXPECT_EQ(done.size(), 2u);
    EXPECT_TRUE(pending.empty());
    EXPECT_TRUE(a.done() && b.done());
  });
}

// test_wait_first_exception: a task that has already failed.
TEST(Wait, FirstException) {
  run_main([&]() -> Coro<> {
    Task<std::string> a = asyncio::create_task(sleep_value(10s, "a"));
    Task<std::string> b = asyncio::create_task([]() -> Coro<std::string> {
      throw BoomError();
      co_return "";
    }());
    auto [done, pending] = co_await asyncio::wait(vec(b, a), asyncio::FIRST_EXCEPTION);
    EXPECT_EQ(done.size(), 1u);
    EXPECT_TRUE(has(done, b));
    EXPECT_EQ(pending.size(), 1u);
    EXPECT_TRUE(has(pending, a));
    EXPECT_TRUE(holds<BoomError>(b.exception()));
    EXPECT_FALSE(a.cancelled());
    co_await cancel_and_wait(a);
  });
}

// test_wait_first_exception_in_wait: the failure happens while wait() waits.
TEST(Wait, FirstExceptionInWait) {
  run_main([&]() -> Coro<> {
    const double t0 = now();
    Task<std::string> a = asyncio::create_task(sleep_value(10s, "a"));
    Task<std::string> b = asyncio::create_task(fail_after(10ms));
    auto [done, pending] = co_await asyncio::wait(vec(b, a), asyncio::FIRST_EXCEPTION);
    EXPECT_EQ(done.size(), 1u);
    EXPECT_TRUE(has(done, b));
    EXPECT_TRUE(has(pending, a));
    EXPECT_TRUE(holds<BoomError>(b.exception()));
    EXPECT_LT(now() - t0, 5.0);
    co_await cancel_and_wait(a);
  });
}

// FIRST_EXCEPTION without any failure waits for everything; a cancelled task is not a failure.
TEST(Wait, FirstExceptionWithoutFailureWaitsForAll) {
  run_main([&]() -> Coro<> {
    Task<std::string> a = asyncio::create_task(sleep_value(1ms, "a"));
    Task<std::string> b = asyncio::create_task(sleep_value(20ms, "b"));
    Task<std::string> c = asyncio::create_task(sleep_value(10s, "c"));
    asyncio::get_running_loop().call_later(5ms, [c] { c.cancel(); });
    auto [done, pending] = co_await asyncio::wait(vec(a, b, c), asyncio::FIRST_EXCEPTION);
    EXPECT_EQ(done.size(), 3u);
    EXPECT_TRUE(pending.empty());
    EXPECT_TRUE(c.cancelled());
    EXPECT_EQ(b.result(), "b");
  });
}

// test_wait_with_exception: ALL_COMPLETED does not raise; the failure is in `done`.
TEST(Wait, WithException) {
  run_main([&]() -> Coro<> {
    Task<std::string> a = asyncio::create_task(sleep_value(10ms, "a"));
    Task<std::string> b = asyncio::create_task(fail_after(15ms));
    for (int round = 0; round < 2; ++round) {
      auto [done, pending] = co_await asyncio::wait(vec(b, a));
      EXPECT_EQ(done.size(), 2u);
      EXPECT_TRUE(pending.empty());
      int errors = 0;
      for (auto& f : done) errors += f.exception() ? 1 : 0;
      EXPECT_EQ(errors, 1);
    }
  });
}

// test_wait_with_timeout: on timeout wait() returns what is pending and cancels nothing.
TEST(Wait, WithTimeout) {
  run_main([&]() -> Coro<> {
    Task<std::string> a = asyncio::create_task(sleep_value(10ms, "a"));
    Task<std::string> b = asyncio::create_task(sleep_value(10s, "b"));
    const double t0 = now();
    auto [done, pending] = co_await asyncio::wait(vec(b, a), 50ms);
    EXPECT_GE(now() - t0, 0.049);
    EXPECT_LT(now() - t0, 5.0);
    EXPECT_EQ(done.size(), 1u);
    EXPECT_TRUE(has(done, a));
    EXPECT_EQ(pending.size(), 1u);
    EXPECT_TRUE(has(pending, b));
    EXPECT_FALSE(b.done());
    EXPECT_FALSE(b.cancelled());
    EXPECT_EQ(b.cancelling(), 0);
    co_await cancel_and_wait(b);
  });
}

// The timeout passes before anything completes, for each return_when: nothing is done,
// nothing is cancelled, and the caller is not cancelled either.
TEST(Wait, TimeoutBeforeAnyCompletionForEachMode) {
  run_main([&]() -> Coro<> {
    for (asyncio::ReturnWhen mode :
         {asyncio::FIRST_COMPLETED, asyncio::FIRST_EXCEPTION, asyncio::ALL_COMPLETED}) {
      Task<std::string> a = asyncio::create_task(sleep_value(10s, "a"));
      Task<std::string> b = asyncio::create_task(fail_after(10s));
      auto [done, pending] = co_await asyncio::wait(vec(a, b), 10ms, mode);
      EXPECT_TRUE(done.empty());
      EXPECT_EQ(pending.size(), 2u);
      if (pending.size() == 2) {
        EXPECT_TRUE(pending[0] == a && pending[1] == b);
      }
      EXPECT_FALSE(a.done() || a.cancelled() || b.done() || b.cancelled());
      EXPECT_EQ(a.cancelling() + b.cancelling(), 0);
      EXPECT_EQ(asyncio::current_task().cancelling(), 0);
      co_await cancel_and_wait(a);
      co_await cancel_and_wait(b);
    }
  });
}

// With a timeout, each mode still returns as soon as its condition holds.
TEST(Wait, ModesWithTimeoutReturnEarly) {
  run_main([&]() -> Coro<> {
    const double t0 = now();
    {
      Task<std::string> a = asyncio::create_task(sleep_value(1ms, "a"));
      Task<std::string> b = asyncio::create_task(sleep_value(10s, "b"));
      auto [done, pending] = co_await asyncio::wait(vec(a, b), 10s, asyncio::FIRST_COMPLETED);
      EXPECT_TRUE(done.size() == 1 && done[0] == a);
      EXPECT_TRUE(pending.size() == 1 && pending[0] == b);
      co_await cancel_and_wait(b);
    }
    {
      Task<std::string> a = asyncio::create_task(sleep_value(1ms, "a"));
      Task<std::string> b = asyncio::create_task(fail_after(2ms));
      Task<std::string> c = asyncio::create_task(sleep_value(10s, "c"));
      auto [done, pending] = co_await asyncio::wait(vec(a, b, c), 10s, asyncio::FIRST_EXCEPTION);
      EXPECT_EQ(done.size(), 2u);
      EXPECT_TRUE(has(done, a) && has(done, b));
      EXPECT_TRUE(pending.size() == 1 && pending[0] == c);
      EXPECT_TRUE(holds<BoomError>(b.exception()));
      co_await cancel_and_wait(c);
    }
    {
      Task<std::string> a = asyncio::create_task(sleep_value(1ms, "a"));
      Task<std::string> b = asyncio::create_task(sleep_value(2ms, "b"));
      auto [done, pending] = co_await asyncio::wait(vec(a, b), 10s, asyncio::ALL_COMPLETED);
      EXPECT_EQ(done.size(), 2u);
      EXPECT_TRUE(pending.empty());
    }
    EXPECT_LT(now() - t0, 5.0);
    // The timers of these waits were disarmed: nothing fires into this task later.
    std::exception_ptr err = co_await sleep_error(20ms);
    EXPECT_EQ(err, nullptr) << what_of(err);
  });
}

// Futures that are already done: all reported done, even with a zero timeout (their
// completion callbacks run before the expired timeout).
TEST(Wait, AlreadyDoneFutures) {
  run_main([&]() -> Coro<> {
    auto& loop = asyncio::get_running_loop();
    asyncio::Future<int> f1 = loop.create_future<int>(), f2 = loop.create_future<int>();
    f1.set_result(1);
    f2.set_result(2);
    auto [done, pending] = co_await asyncio::wait(vec(f1, f2), 0s);
    EXPECT_EQ(done.size(), 2u);
    EXPECT_TRUE(pending.empty());
  });
}

TEST(Wait, Futures) {
  run_main([&]() -> Coro<> {
    auto& loop = asyncio::get_running_loop();
    asyncio::Future<int> f1 = loop.create_future<int>(), f2 = loop.create_future<int>();
    loop.call_later(5ms, [f2] { f2.set_result(2); });
    auto [done, pending] = co_await asyncio::wait(vec(f1, f2), asyncio::FIRST_COMPLETED);
    EXPECT_TRUE(done.size() == 1 && done[0] == f2);
    EXPECT_TRUE(pending.size() == 1 && pending[0] == f1);
    EXPECT_FALSE(f1.done());
    f1.set_result(1);
    auto all = co_await asyncio::wait(vec(f1, f2));
    EXPECT_EQ(all.done.size(), 2u);
  });
}

// Tasks of different result types, through AnyTask.
TEST(Wait, HeterogeneousAnyTasks) {
  run_main([&]() -> Coro<> {
    Task<int> i = asyncio::create_task([]() -> Coro<int> {
      co_await asyncio::sleep(1ms);
      co_return 1;
    }());
    Task<std::string> s = asyncio::create_task(sleep_value(2ms, "s"));
    auto [done, pending] = co_await asyncio::wait(vec<asyncio::AnyTask>(i, s));
    EXPECT_EQ(done.size(), 2u);
    EXPECT_TRUE(pending.empty());
    EXPECT_EQ(i.result(), 1);
    EXPECT_EQ(s.result(), "s");
  });
}

// test_yield_wait_does_not_shield_cancel: cancelling the task that waits makes wait() raise
// CancelledError; the awaited task is not cancelled and goes on.
TEST(Wait, CancellingTheWaiterCancelsNothingElse) {
  int proof = 0;
  run_main([&]() -> Coro<> {
    auto& loop = asyncio::get_running_loop();
    asyncio::Future<void> waiter = loop.create_future<void>();
    auto inner = [&]() -> Coro<> {
      co_await waiter;
      proof += 1;
    };
    Task<void> inner_task;
    auto outer = [&]() -> Coro<> {
      inner_task = asyncio::create_task(inner());
      co_await asyncio::wait(vec(inner_task));
      proof += 100;
    };
    Task<void> f = asyncio::create_task(outer());
    co_await asyncio::sleep(0s);
    f.cancel();
    std::exception_ptr err = co_await error_of(f);
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
    EXPECT_FALSE(inner_task.done());
    EXPECT_FALSE(inner_task.cancelled());
    waiter.set_result();
    co_await inner_task;
    EXPECT_EQ(proof, 1);
  });
}

// Cancelled while waiting with a timeout: CancelledError, and the timeout's timer is gone (a
// stray timer would fire into a finished wait).
TEST(Wait, CancelledWhileWaitingWithTimeout) {
  run_main([&]() -> Coro<> {
    for (asyncio::ReturnWhen mode :
         {asyncio::FIRST_COMPLETED, asyncio::FIRST_EXCEPTION, asyncio::ALL_COMPLETED}) {
      Task<std::string> a = asyncio::create_task(sleep_value(30ms, "a"));
      Task<asyncio::WaitResult<Task<std::string>>> w =
          asyncio::create_task(asyncio::wait(vec(a), 20ms, mode));
      co_await asyncio::sleep(1ms);
      w.cancel();
      std::exception_ptr err = co_await error_of(w);
      EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
      EXPECT_FALSE(a.cancelled());
      EXPECT_EQ(co_await a, "a");  // spans the disarmed timeout
    }
  });
}

// ---- as_completed() -----------------------------------------------------------------------

// test_as_completed: results in completion order, whatever the input order.
TEST(AsCompleted, CompletionOrder) {
  run_main([&]() -> Coro<> {
    std::vector<Coro<std::string>> coros;
    coros.push_back(sleep_value(20ms, "b"));
    coros.push_back(sleep_value(60ms, "c"));
    coros.push_back(sleep_value(10ms, "a"));
    std::vector<std::string> values;
    for (auto& f : asyncio::as_completed(std::move(coros))) values.push_back(co_await f);
    EXPECT_EQ(values, (std::vector<std::string>{"a", "b", "c"}));
  });
}

// test_as_completed_with_timeout
TEST(AsCompleted, WithTimeout) {
  run_main([&]() -> Coro<> {
    Task<std::string> a = asyncio::create_task(sleep_value(10ms, "a"));
    Task<std::string> b = asyncio::create_task(sleep_value(10s, "b"));
    const double t0 = now();
    std::vector<std::pair<int, std::string>> values;
    for (auto& f : asyncio::as_completed(vec(a, b), 300ms)) {
      try {
        values.emplace_back(1, co_await f);
      } catch (const TimeoutError&) {
        values.emplace_back(2, "timeout");
      }
    }
    EXPECT_EQ(values, (std::vector<std::pair<int, std::string>>{{1, "a"}, {2, "timeout"}}));
    EXPECT_GE(now() - t0, 0.29);
    EXPECT_LT(now() - t0, 5.0);
    EXPECT_FALSE(b.done());  // nothing is cancelled
    co_await cancel_and_wait(b);
  });
}

// All the remaining awaitables raise TimeoutError, including those awaited concurrently.
TEST(AsCompleted, TimeoutWakesEveryWaiter) {
  run_main([&]() -> Coro<> {
    Task<std::string> a = asyncio::create_task(sleep_value(10s, "a"));
    Task<std::string> b = asyncio::create_task(sleep_value(10s, "b"));
    std::vector<Coro<std::string>> its = asyncio::as_completed(vec(a, b), 10ms);
    EXPECT_EQ(its.size(), 2u);
    Task<std::string> w0 = asyncio::create_task(std::move(its[0]));
    Task<std::string> w1 = asyncio::create_task(std::move(its[1]));
    std::exception_ptr e0 = co_await error_of(w0), e1 = co_await error_of(w1);
    EXPECT_TRUE(holds<TimeoutError>(e0)) << what_of(e0);
    EXPECT_TRUE(holds<TimeoutError>(e1)) << what_of(e1);
    co_await cancel_and_wait(a);
    co_await cancel_and_wait(b);
  });
}

// A completion whose callback is still queued when the deadline passes counts as timed out,
// as in Python (the done-callback finds `todo` empty and does nothing).
TEST(AsCompleted, TimeoutWinsOverAQueuedCompletion) {
  run_main([&]() -> Coro<> {
    auto& loop = asyncio::get_running_loop();
    asyncio::Future<std::string> fut = loop.create_future<std::string>();
    loop.call_later(5ms, [fut] { fut.set_result("x"); });
    std::vector<Coro<std::string>> its = asyncio::as_completed(vec(fut), 10ms);
    // Both deadlines pass while the loop is blocked, so both timers run in the next
    // iteration, in deadline order: set_result() queues the completion callback for the
    // iteration after, and the timeout runs before it.
    std::this_thread::sleep_for(50ms);
    std::exception_ptr err = co_await error_of(std::move(its[0]));
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_EQ(fut.result(), "x");
  });
}

// test_as_completed_with_unused_timeout
TEST(AsCompleted, UnusedTimeout) {
  run_main([&]() -> Coro<> {
    std::vector<Coro<std::string>> coros;
    coros.push_back(sleep_value(10ms, "a"));
    for (auto& f : asyncio::as_completed(std::move(coros), 10s)) EXPECT_EQ(co_await f, "a");
    std::exception_ptr err = co_await sleep_error(20ms);
    EXPECT_EQ(err, nullptr) << what_of(err);
  });
}

// test_as_completed_reverse_wait: the k-th awaited yields the k-th completion, whichever
// awaitable object is awaited.
TEST(AsCompleted, ReverseWait) {
  run_main([&]() -> Coro<> {
    std::vector<Coro<std::string>> coros;
    coros.push_back(sleep_value(10ms, "a"));
    coros.push_back(sleep_value(30ms, "b"));
    std::vector<Coro<std::string>> futs = asyncio::as_completed(std::move(coros));
    EXPECT_EQ(futs.size(), 2u);
    EXPECT_EQ(co_await futs[1], "a");
    EXPECT_EQ(co_await futs[0], "b");
  });
}

// test_as_completed_concurrent: the awaitables can run as tasks at the same time.
TEST(AsCompleted, Concurrent) {
  run_main([&]() -> Coro<> {
    std::vector<Coro<std::string>> coros;
    coros.push_back(sleep_value(10ms, "a"));
    coros.push_back(sleep_value(10ms, "b"));
    StrTasks waiters;
    for (auto& c : asyncio::as_completed(std::move(coros))) {
      waiters.push_back(asyncio::create_task(std::move(c)));
    }
    auto [done, pending] = co_await asyncio::wait(waiters);
    EXPECT_TRUE(pending.empty());
    std::set<std::string> results;
    for (auto& t : done) results.insert(t.result());
    EXPECT_EQ(results, (std::set<std::string>{"a", "b"}));
  });
}

// test_as_completed_duplicate_coroutines (with tasks: a Coro cannot be listed twice)
TEST(AsCompleted, Duplicates) {
  run_main([&]() -> Coro<> {
    Task<std::string> c = asyncio::create_task(sleep_value(0s, "ham"));
    Task<std::string> d = asyncio::create_task(sleep_value(0s, "spam"));
    std::vector<std::string> result;
    for (auto& f : asyncio::as_completed(vec(c, c, d))) result.push_back(co_await f);
    EXPECT_EQ(result.size(), 2u);
    EXPECT_EQ(std::set<std::string>(result.begin(), result.end()),
              (std::set<std::string>{"ham", "spam"}));
  });
}

TEST(AsCompleted, Empty) {
  run_main([&]() -> Coro<> {
    EXPECT_TRUE(asyncio::as_completed(StrTasks{}).empty());
    EXPECT_TRUE(asyncio::as_completed(StrTasks{}, 1ms).empty());
    co_return;
  });
}

// A failure comes out of the awaitable whose turn it is; the others are unaffected.
TEST(AsCompleted, ExceptionsInCompletionOrder) {
  run_main([&]() -> Coro<> {
    std::vector<Coro<std::string>> coros;
    coros.push_back(sleep_value(30ms, "late"));
    coros.push_back(fail_after(10ms));
    coros.push_back(sleep_value(1ms, "early"));
    std::vector<std::string> seen;
    for (auto& f : asyncio::as_completed(std::move(coros))) {
      try {
        seen.push_back(co_await f);
      } catch (const BoomError&) {
        seen.push_back("boom");
      }
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"early", "boom", "late"}));
  });
}

TEST(AsCompleted, CancelledInputGivesCancelledError) {
  run_main([&]() -> Coro<> {
    Task<std::string> a = asyncio::create_task(sleep_value(10s, "a"));
    Task<std::string> b = asyncio::create_task(sleep_value(20ms, "b"));
    std::vector<Coro<std::string>> its = asyncio::as_completed(vec(a, b));
    a.cancel();
    std::exception_ptr first = co_await error_of(std::move(its[0]));
    EXPECT_TRUE(holds<CancelledError>(first)) << what_of(first);
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);  // not this task's cancellation
    EXPECT_EQ(co_await its[1], "b");
  });
}

// Cancelling a task that awaits one of the awaitables: CancelledError there, the input goes
// on, and its completion goes to the next awaiter.
TEST(AsCompleted, CancelWhileWaiting) {
  run_main([&]() -> Coro<> {
    Task<std::string> a = asyncio::create_task(sleep_value(20ms, "a"));
    std::vector<Coro<std::string>> its = asyncio::as_completed(vec(a));
    Task<std::string> consumer = asyncio::create_task(std::move(its[0]));
    co_await asyncio::sleep(1ms);
    consumer.cancel();
    std::exception_ptr err = co_await error_of(consumer);
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
    EXPECT_FALSE(a.cancelled());
    EXPECT_EQ(co_await a, "a");
  });
}

// A waiter woken with a completion but cancelled before it runs passes the completion on to
// the next waiter (as Queue.get() does in Python's implementation).
TEST(AsCompleted, WokenThenCancelledPassesTheCompletionOn) {
  run_main([&]() -> Coro<> {
    auto& loop = asyncio::get_running_loop();
    asyncio::Future<std::string> f1 = loop.create_future<std::string>();
    asyncio::Future<std::string> f2 = loop.create_future<std::string>();
    std::vector<Coro<std::string>> its = asyncio::as_completed(vec(f1, f2));
    Task<std::string> first = asyncio::create_task(std::move(its[0]));
    Task<std::string> second = asyncio::create_task(std::move(its[1]));
    co_await asyncio::sleep(0s);  // both wait now
    f1.set_result("one");
    // Next iteration: the completion wakes `first` (its step is queued for the iteration
    // after); this task runs in the same iteration, after that wake-up, and cancels it.
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(first.done());
    first.cancel();
    std::exception_ptr err = co_await error_of(first);
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
    EXPECT_EQ(co_await second, "one");
    EXPECT_FALSE(f2.done());
    f2.set_result("two");
  });
}

TEST(AsCompleted, VoidTasksAndAnyTasks) {
  run_main([&]() -> Coro<> {
    Task<void> a = asyncio::create_task(nap(2ms));
    Task<void> b = asyncio::create_task(nap(1ms));
    int n = 0;
    for (auto& f : asyncio::as_completed(vec(a, b))) {
      co_await f;
      ++n;
      EXPECT_TRUE(b.done());  // the first to complete
    }
    EXPECT_EQ(n, 2);
    EXPECT_TRUE(a.done());

    Task<std::string> s = asyncio::create_task(sleep_value(1ms, "x"));
    std::vector<asyncio::AnyTask> any = vec<asyncio::AnyTask>(s);
    for (auto& f : asyncio::as_completed(any)) co_await f;
    EXPECT_EQ(s.result(), "x");
  });
}

// Dropping the awaitables before the timeout: the timeout must not touch freed state.
TEST(AsCompleted, DroppedBeforeTimeout) {
  run_main([&]() -> Coro<> {
    auto& loop = asyncio::get_running_loop();
    asyncio::Future<int> f1 = loop.create_future<int>(), f2 = loop.create_future<int>();
    {
      auto its = asyncio::as_completed(vec(f1, f2), 5ms);
      EXPECT_EQ(its.size(), 2u);
    }
    co_await asyncio::sleep(30ms);
    f1.set_result(1);
    f2.set_result(2);
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
  });
}

// Dropping the awaitables, then the inputs complete: nothing breaks either.
TEST(AsCompleted, DroppedThenInputsComplete) {
  run_main([&]() -> Coro<> {
    Task<std::string> a = asyncio::create_task(sleep_value(1ms, "a"));
    { auto its = asyncio::as_completed(vec(a), 1s); }
    EXPECT_EQ(co_await a, "a");
    co_await asyncio::sleep(0s);
  });
}

// test_as_completed_coroutine_without_loop: outside a running loop, RuntimeError.
TEST(AsCompleted, CoroutineWithoutLoop) {
  std::vector<Coro<std::string>> coros;
  coros.push_back(sleep_value(0s, "a"));
  EXPECT_THROW((void)asyncio::as_completed(std::move(coros)), asyncio::RuntimeError);
}

// ---- The loop closes while a task waits here -------------------------------------------------

TEST(Wait, LoopClosedWhileWaiting) {
  auto reports = close_loop_while_pending([&](asyncio::EventLoop& loop) {
    asyncio::Future<int> never = loop.create_future<int>();
    Task<void> sleeper = loop.create_task(nap(10s));
    Task<void> w1 = loop.create_task([](asyncio::Future<int> f, Task<void> s) -> Coro<> {
      co_await asyncio::wait(vec<asyncio::AnyTask>(s), 10s, asyncio::FIRST_COMPLETED);
      co_await asyncio::wait(std::vector<asyncio::Future<int>>(1, f));
    }(never, sleeper));
    Task<void> w2 = loop.create_task([](asyncio::Future<int> f) -> Coro<> {
      for (auto& c : asyncio::as_completed(std::vector<asyncio::Future<int>>(1, f), 10s)) {
        co_await c;
      }
    }(never));
    loop.run_until_complete(nap(5ms));
  });
  EXPECT_EQ(count_of(reports, "Task was destroyed but it is pending!"), 3u);
}

}  // namespace
