// Tests of gather() (Python: test_asyncio/test_tasks.py, GatherTestsBase and friends).

#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/events.hpp"
#include "asyncio/futures.hpp"
#include "asyncio/gather.hpp"
#include "asyncio/outcome.hpp"
#include "asyncio/tasks.hpp"
#include "core_helpers.hpp"

using namespace std::chrono_literals;
using asyncio::AnyTask;
using asyncio::CancelledError;
using asyncio::Coro;
using asyncio::EventLoop;
using asyncio::Future;
using asyncio::Outcome;
using asyncio::Task;
using asyncio::Void;

namespace {

using coretest::HandlerLog;

/// Yields `yields` times, then returns `value`.
template <class T>
Coro<T> after(int yields, T value) {
  for (int i = 0; i < yields; ++i) co_await asyncio::sleep(0s);
  co_return value;
}

Coro<> nothing_after(int yields) {
  for (int i = 0; i < yields; ++i) co_await asyncio::sleep(0s);
}

Coro<int> fail_after(int yields, std::string what) {
  for (int i = 0; i < yields; ++i) co_await asyncio::sleep(0s);
  throw std::runtime_error(what);
}

Coro<> sleep_long() {
  co_await asyncio::sleep(60s);
}

Coro<> cancel_after_yield(Task<int> t) {
  co_await asyncio::sleep(0s);
  t.cancel("cut");
}

std::string message_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const CancelledError& c) {
    return "CancelledError:" + c.message();
  } catch (const std::exception& x) {
    return x.what();
  }
}

}  // namespace

TEST(GatherTest, ResultsComeInArgumentOrder) {
  EventLoop loop;
  std::vector<int> finished;
  auto child = [&](int value, int yields) -> Coro<int> {
    for (int i = 0; i < yields; ++i) co_await asyncio::sleep(0s);
    finished.push_back(value);
    co_return value;
  };
  auto main = [&]() -> Coro<std::tuple<int, int, int>> {
    co_return co_await asyncio::gather(child(1, 3), child(2, 0), child(3, 1));
  };
  auto [a, b, c] = loop.run_until_complete(main());
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 2);
  EXPECT_EQ(c, 3);
  EXPECT_EQ(finished, (std::vector<int>{2, 3, 1}));  // they really ran concurrently
}

TEST(GatherTest, HeterogeneousTypesAndVoid) {
  EventLoop loop;
  auto main = []() -> Coro<bool> {
    auto g = asyncio::gather(after(1, std::string("s")), nothing_after(2), after(0, 2.5));
    static_assert(std::is_same_v<decltype(g), Future<std::tuple<std::string, Void, double>>>);
    auto [s, v, d] = co_await g;
    static_assert(std::is_same_v<decltype(v), Void>);
    co_return s == "s" && d == 2.5;
  };
  EXPECT_TRUE(loop.run_until_complete(main()));
}

TEST(GatherTest, CoroutinesAreScheduledEvenIfTheGatherIsNeverAwaited) {
  EventLoop loop;
  int ran = 0;
  auto child = [&]() -> Coro<> {
    ++ran;
    co_return;
  };
  auto main = [&]() -> Coro<> {
    auto g = asyncio::gather(child(), child());
    (void)g;
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
  };
  loop.run_until_complete(main());
  EXPECT_EQ(ran, 2);
}

TEST(GatherTest, FirstExceptionPropagatesAndOthersKeepRunning) {
  EventLoop loop;
  HandlerLog handler;
  handler.install(loop);
  bool slow_finished = false;
  auto slow = [&]() -> Coro<int> {
    for (int i = 0; i < 5; ++i) co_await asyncio::sleep(0s);
    slow_finished = true;
    co_return 1;
  };
  std::string error;
  bool slow_done_when_raised = true;
  auto main = [&]() -> Coro<> {
    try {
      co_await asyncio::gather(slow(), fail_after(1, "first"), fail_after(2, "second"));
    } catch (const std::runtime_error& e) {
      error = e.what();
      slow_done_when_raised = slow_finished;
    }
    // The other children were not cancelled: they complete later.
    for (int i = 0; i < 10 && !slow_finished; ++i) co_await asyncio::sleep(0s);
  };
  loop.run_until_complete(main());
  EXPECT_EQ(error, "first");
  EXPECT_FALSE(slow_done_when_raised);
  EXPECT_TRUE(slow_finished);
  // The later exception ("second") was marked retrieved by the gather: nothing reported.
  EXPECT_TRUE(handler.contexts.empty());
}

TEST(GatherTest, ReturnExceptionsCollectsValuesExceptionsAndCancellations) {
  EventLoop loop;
  auto main = []() -> Coro<> {
    Task<int> doomed = asyncio::create_task(after(5, 0));
    Task<> canceller = asyncio::create_task(cancel_after_yield(doomed));
    auto [ok, bad, cancelled, v] = co_await asyncio::gather(
        asyncio::return_exceptions, after(1, 10), fail_after(2, "bad"), doomed, nothing_after(1));
    static_assert(std::is_same_v<decltype(ok), Outcome<int>>);
    static_assert(std::is_same_v<decltype(v), Outcome<Void>>);
    EXPECT_TRUE(ok.has_value());
    EXPECT_TRUE(static_cast<bool>(ok));
    EXPECT_EQ(ok.value(), 10);
    EXPECT_EQ(ok.exception(), nullptr);
    EXPECT_FALSE(ok.cancelled());

    EXPECT_FALSE(bad.has_value());
    EXPECT_FALSE(bad.cancelled());
    EXPECT_EQ(message_of(bad.exception()), "bad");
    EXPECT_THROW(bad.value(), std::runtime_error);

    EXPECT_FALSE(cancelled.has_value());
    EXPECT_TRUE(cancelled.cancelled());
    EXPECT_THROW(cancelled.value(), CancelledError);

    EXPECT_TRUE(v.has_value());
    co_await canceller;
  };
  loop.run_until_complete(main());
}

TEST(GatherTest, ReturnExceptionsWaitsForAllChildren) {
  EventLoop loop;
  bool late_done = false;
  auto late = [&]() -> Coro<int> {
    for (int i = 0; i < 4; ++i) co_await asyncio::sleep(0s);
    late_done = true;
    co_return 4;
  };
  auto main = [&]() -> Coro<bool> {
    auto [e, l] = co_await asyncio::gather(asyncio::return_exceptions, fail_after(0, "x"), late());
    co_return late_done && !e.has_value() && l.value() == 4;
  };
  EXPECT_TRUE(loop.run_until_complete(main()));
}

TEST(GatherTest, CancellingTheGatherFutureCancelsTheChildren) {
  EventLoop loop;
  std::string error;
  auto main = [&]() -> Coro<> {
    Task<> a = asyncio::create_task(sleep_long());
    Task<> b = asyncio::create_task(sleep_long());
    auto g = asyncio::gather(a, b);
    co_await asyncio::sleep(0s);
    EXPECT_TRUE(g.cancel("stop all"));
    EXPECT_TRUE(a.cancelling() == 1 && b.cancelling() == 1);
    try {
      co_await g;
    } catch (const CancelledError& e) {
      error = "CancelledError:" + e.message();
    }
    EXPECT_TRUE(a.cancelled());
    EXPECT_TRUE(b.cancelled());
    EXPECT_TRUE(g.done());
    EXPECT_FALSE(g.cancel());  // done now
    // The awaiting task itself was not cancelled.
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
  };
  loop.run_until_complete(main());
  EXPECT_EQ(error, "CancelledError:stop all");
}

TEST(GatherTest, CancellingTheGatherFutureRaisesEvenWithReturnExceptions) {
  EventLoop loop;
  std::string error;
  auto main = [&]() -> Coro<> {
    Task<> a = asyncio::create_task(sleep_long());
    auto g = asyncio::gather(asyncio::return_exceptions, a, after(0, 1));
    co_await asyncio::sleep(0s);
    EXPECT_TRUE(g.cancel("x"));
    try {
      co_await g;
      error = "no exception";
    } catch (const CancelledError& e) {
      error = "CancelledError:" + e.message();
    }
  };
  loop.run_until_complete(main());
  EXPECT_EQ(error, "CancelledError:x");
}

TEST(GatherTest, CancelOfAGatherWhoseChildrenAreDoneReturnsFalse) {
  EventLoop loop;
  auto main = []() -> Coro<> {
    Task<int> t = asyncio::create_task(after(0, 1));
    co_await t;
    auto g = asyncio::gather(t);
    EXPECT_FALSE(g.cancel());  // no child could be cancelled
    auto [v] = co_await g;
    EXPECT_EQ(v, 1);
  };
  loop.run_until_complete(main());
}

TEST(GatherTest, CancellingTheAwaitingTaskCancelsTheChildren) {
  EventLoop loop;
  Task<> a, b;
  auto outer_body = [&]() -> Coro<> {
    a = asyncio::create_task(sleep_long());
    b = asyncio::create_task(sleep_long());
    co_await asyncio::gather(a, b);
  };
  Task<> outer = loop.create_task(outer_body());
  loop.call_soon([&] { loop.call_soon([&] { outer.cancel("outer msg"); }); });
  EXPECT_THROW(loop.run_until_complete(outer), CancelledError);
  EXPECT_TRUE(outer.cancelled());
  EXPECT_TRUE(a.cancelled());
  EXPECT_TRUE(b.cancelled());
  try {
    outer.result();
  } catch (const CancelledError& e) {
    EXPECT_EQ(e.message(), "outer msg");
  }
}

TEST(GatherTest, ChildCancellingItselfCountsAsAnException) {
  EventLoop loop;
  auto self_cancel = []() -> Coro<int> {
    asyncio::current_task().cancel("self");
    co_await asyncio::sleep(0s);
    co_return 0;
  };
  std::string error;
  bool other_finished = false;
  auto other = [&]() -> Coro<int> {
    for (int i = 0; i < 3; ++i) co_await asyncio::sleep(0s);
    other_finished = true;
    co_return 3;
  };
  auto main = [&]() -> Coro<int> {
    try {
      co_await asyncio::gather(self_cancel(), other());
    } catch (const CancelledError& e) {
      error = "CancelledError:" + e.message();
    }
    // The gathering task was not cancelled: it can keep awaiting.
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
    auto [c, v] = co_await asyncio::gather(asyncio::return_exceptions, self_cancel(), other());
    EXPECT_TRUE(c.cancelled());
    co_return v.value();
  };
  Task<int> t = loop.create_task(main());
  EXPECT_EQ(loop.run_until_complete(t), 3);
  EXPECT_FALSE(t.cancelled());
  EXPECT_EQ(error, "CancelledError:self");
  EXPECT_TRUE(other_finished);
}

TEST(GatherTest, EmptyGather) {
  EventLoop loop;
  auto main = []() -> Coro<std::size_t> {
    auto g = asyncio::gather();
    static_assert(std::is_same_v<decltype(g), Future<std::tuple<>>>);
    EXPECT_TRUE(g.done());  // Python: already done, with []
    co_await g;
    auto r = asyncio::gather(std::vector<Coro<int>>{});
    EXPECT_TRUE(r.done());
    std::vector<int> v = co_await r;
    auto re = asyncio::gather(asyncio::return_exceptions, std::vector<Coro<int>>{});
    std::vector<Outcome<int>> vo = co_await re;
    co_return v.size() + vo.size();
  };
  EXPECT_EQ(loop.run_until_complete(main()), 0u);
}

TEST(GatherTest, RangeForm) {
  EventLoop loop;
  auto main = []() -> Coro<std::vector<int>> {
    std::vector<Coro<int>> coros;
    for (int i = 0; i < 10; ++i) coros.push_back(after(10 - i, i * i));
    co_return co_await asyncio::gather(std::move(coros));
  };
  std::vector<int> expected;
  for (int i = 0; i < 10; ++i) expected.push_back(i * i);
  EXPECT_EQ(loop.run_until_complete(main()), expected);
}

TEST(GatherTest, RangeFormWithReturnExceptions) {
  EventLoop loop;
  auto main = []() -> Coro<> {
    std::vector<Coro<int>> coros;
    coros.push_back(after(1, 1));
    coros.push_back(fail_after(0, "middle"));
    coros.push_back(after(2, 3));
    std::vector<Outcome<int>> out =
        co_await asyncio::gather(asyncio::return_exceptions, std::move(coros));
    EXPECT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].value(), 1);
    EXPECT_EQ(message_of(out[1].exception()), "middle");
    EXPECT_EQ(out[2].value(), 3);
  };
  loop.run_until_complete(main());
}

TEST(GatherTest, RangeFormPropagatesTheFirstException) {
  EventLoop loop;
  auto main = []() -> Coro<std::string> {
    std::vector<Coro<int>> coros;
    coros.push_back(after(3, 1));
    coros.push_back(fail_after(2, "late"));
    coros.push_back(fail_after(1, "early"));
    try {
      co_await asyncio::gather(std::move(coros));
    } catch (const std::runtime_error& e) {
      co_return e.what();
    }
    co_return "none";
  };
  EXPECT_EQ(loop.run_until_complete(main()), "early");
}

TEST(GatherTest, ExistingTasksKeepTheirResults) {
  EventLoop loop;
  auto main = []() -> Coro<> {
    Task<std::string> t = asyncio::create_task(after(1, std::string("kept")));
    Task<std::vector<int>> u = asyncio::create_task(after(0, std::vector<int>{1, 2, 3}));
    auto [s, v] = co_await asyncio::gather(t, u);
    EXPECT_EQ(s, "kept");
    EXPECT_EQ(v, (std::vector<int>{1, 2, 3}));
    // Copied, not moved: the tasks still hold their results.
    EXPECT_EQ(t.result(), "kept");
    EXPECT_EQ(u.result(), (std::vector<int>{1, 2, 3}));
    std::vector<Task<std::string>> tasks{t, asyncio::create_task(after(2, std::string("b")))};
    std::vector<std::string> both = co_await asyncio::gather(tasks);
    EXPECT_EQ(both, (std::vector<std::string>{"kept", "b"}));
    EXPECT_EQ(tasks[1].result(), "b");
  };
  loop.run_until_complete(main());
}

TEST(GatherTest, SameTaskTwice) {
  EventLoop loop;
  auto main = []() -> Coro<> {
    Task<int> t = asyncio::create_task(after(1, 5));
    auto [a, b] = co_await asyncio::gather(t, t);
    EXPECT_EQ(a, 5);
    EXPECT_EQ(b, 5);
  };
  loop.run_until_complete(main());
}

TEST(GatherTest, FuturesAndAnyTasks) {
  EventLoop loop;
  auto main = [&]() -> Coro<> {
    Future<int> f = loop.create_future<int>();
    AnyTask any = asyncio::create_task(nothing_after(1));
    loop.call_soon([f] { f.set_result(8); });
    auto [x, y] = co_await asyncio::gather(f, any);
    static_assert(std::is_same_v<decltype(y), Void>);
    EXPECT_EQ(x, 8);
    EXPECT_EQ(f.result(), 8);
    std::vector<AnyTask> anys{asyncio::create_task(nothing_after(1)),
                              asyncio::create_task(nothing_after(0))};
    std::vector<Void> voids = co_await asyncio::gather(anys);
    EXPECT_EQ(voids.size(), 2u);
  };
  loop.run_until_complete(main());
}

TEST(GatherTest, AlreadyDoneChildrenCompleteTheGatherAtOnce) {
  // Python runs the done-callbacks of children already done when gather() returns.
  EventLoop loop;
  auto main = [&]() -> Coro<> {
    Future<int> f = loop.create_future<int>();
    f.set_result(1);
    Task<int> t = asyncio::create_task(after(0, 2));
    co_await t;
    auto g = asyncio::gather(f, t);
    EXPECT_TRUE(g.done());
    auto [a, b] = co_await g;
    EXPECT_EQ(a + b, 3);
    Future<int> failed = loop.create_future<int>();
    failed.set_exception(std::runtime_error("already failed"));
    auto h = asyncio::gather(f, failed);
    EXPECT_TRUE(h.done());
    EXPECT_EQ(message_of(h.exception()), "already failed");
  };
  loop.run_until_complete(main());
}

TEST(GatherTest, MoveOnlyResults) {
  EventLoop loop;
  auto make = [](int v, int yields) -> Coro<std::unique_ptr<int>> {
    for (int i = 0; i < yields; ++i) co_await asyncio::sleep(0s);
    co_return std::make_unique<int>(v);
  };
  auto main = [&]() -> Coro<int> {
    auto [a, b] = co_await asyncio::gather(make(1, 1), make(2, 0));
    std::vector<Coro<std::unique_ptr<int>>> coros;
    coros.push_back(make(3, 0));
    coros.push_back(make(4, 1));
    std::vector<std::unique_ptr<int>> v = co_await asyncio::gather(std::move(coros));
    auto [o] = co_await asyncio::gather(asyncio::return_exceptions, make(5, 0));
    co_return *a + *b + *v[0] + *v[1] + *o.value();
  };
  EXPECT_EQ(loop.run_until_complete(main()), 15);
}

TEST(GatherTest, GatherOutsideALoopRaises) {
  EXPECT_THROW(asyncio::gather(after(0, 1)), asyncio::RuntimeError);
}

TEST(GatherTest, OutcomeBasics) {
  Outcome<int> v(3);
  EXPECT_TRUE(v.has_value());
  EXPECT_EQ(v.value(), 3);
  EXPECT_EQ(std::move(v).value(), 3);
  Outcome<int> e(std::make_exception_ptr(std::logic_error("l")));
  EXPECT_FALSE(e);
  EXPECT_FALSE(e.cancelled());
  EXPECT_THROW(e.value(), std::logic_error);
  Outcome<int> c(std::make_exception_ptr(CancelledError("c")));
  EXPECT_TRUE(c.cancelled());
  const Outcome<int>& cref = c;
  EXPECT_THROW(cref.value(), CancelledError);
}
