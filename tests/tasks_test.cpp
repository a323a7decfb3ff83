// Tests of Coro, Task, sleep, current_task and all_tasks (Python: test_asyncio/test_tasks.py).

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/events.hpp"
#include "asyncio/futures.hpp"
#include "asyncio/tasks.hpp"
#include "core_helpers.hpp"

using namespace std::chrono_literals;
using asyncio::AnyTask;
using asyncio::CancelledError;
using asyncio::Coro;
using asyncio::EventLoop;
using asyncio::Future;
using asyncio::Task;

namespace {

using coretest::cancelled_message;
using coretest::HandlerLog;
using coretest::run_once;

Coro<int> answer() {
  co_return 42;
}

Coro<> fail(std::string what) {
  throw std::runtime_error(what);
  co_return;
}

Coro<> sleep_long() {
  co_await asyncio::sleep(60s);
}

}  // namespace

// ---- Coro ------------------------------------------------------------------------------------

TEST(CoroTest, IsLazyAndNeverRunsIfNotAwaited) {
  bool ran = false;
  auto body = [&]() -> Coro<> {
    ran = true;
    co_return;
  };
  {
    Coro<> c = body();
    EXPECT_TRUE(c.valid());
  }
  EXPECT_FALSE(ran);
}

TEST(CoroTest, AwaitRunsInlineWithoutALoopTrip) {
  EventLoop loop;
  std::vector<std::string> log;
  auto inner = [&]() -> Coro<int> {
    log.push_back("inner");
    co_return 1;
  };
  auto a = [&]() -> Coro<> {
    log.push_back("a1");
    int v = co_await inner();
    log.push_back("a2:" + std::to_string(v));
  };
  auto b = [&]() -> Coro<> {
    log.push_back("b");
    co_return;
  };
  auto main = [&]() -> Coro<> {
    auto ta = asyncio::create_task(a());
    auto tb = asyncio::create_task(b());
    co_await ta;
    co_await tb;
  };
  loop.run_until_complete(main());
  EXPECT_EQ(log, (std::vector<std::string>{"a1", "inner", "a2:1", "b"}));
}

TEST(CoroTest, ExceptionsPropagateThroughNestedCoros) {
  EventLoop loop;
  auto level2 = []() -> Coro<int> {
    throw std::invalid_argument("deep");
    co_return 0;
  };
  auto level1 = [&]() -> Coro<int> { co_return co_await level2() + 1; };
  auto main = [&]() -> Coro<std::string> {
    try {
      co_await level1();
    } catch (const std::invalid_argument& e) {
      co_return e.what();
    }
    co_return "none";
  };
  EXPECT_EQ(loop.run_until_complete(main()), "deep");
}

TEST(CoroTest, AwaitingTwiceRaises) {
  EventLoop loop;
  auto main = []() -> Coro<std::string> {
    Coro<int> c = answer();
    int first = co_await c;
    EXPECT_EQ(first, 42);
    EXPECT_FALSE(c.valid());
    try {
      co_await c;
    } catch (const asyncio::RuntimeError& e) {
      co_return e.what();
    }
    co_return "no error";
  };
  EXPECT_EQ(loop.run_until_complete(main()), "cannot reuse already awaited coroutine");
}

TEST(CoroTest, AwaitingAnEmptyCoroRaises) {
  EventLoop loop;
  auto main = []() -> Coro<bool> {
    Coro<int> c = answer();
    Coro<int> moved = std::move(c);
    bool raised = false;
    try {
      co_await c;  // NOLINT(bugprone-use-after-move): that is the point
    } catch (const asyncio::RuntimeError&) {
      raised = true;
    }
    co_return raised&& co_await moved == 42;
  };
  EXPECT_TRUE(loop.run_until_complete(main()));
}

TEST(CoroTest, CreateTaskRejectsAnAwaitedCoro) {
  EventLoop loop;
  auto main = [&]() -> Coro<bool> {
    Coro<int> c = answer();
    co_await c;
    try {
      asyncio::create_task(std::move(c));
    } catch (const asyncio::RuntimeError&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(loop.run_until_complete(main()));
}

Coro<long> sum_of_answers(int n) {
  long sum = 0;
  for (int i = 0; i < n; ++i) sum += co_await answer();
  co_return sum;
}

TEST(CoroTest, ManySequentialAwaitsOfFinishedCoros) {
  EventLoop loop;
  EXPECT_EQ(loop.run_until_complete(sum_of_answers(10000)), 42L * 10000);
}

// A coroutine that finishes at once hands control back by a plain return (Coro::Awaiter),
// not by symmetric transfer, which bounds the stack only where the compiler makes it a tail
// call (GCC: -O2 only). Before that design, this crashed after ~1e5 iterations at -O0 and
// under 1e4 with ASan.
TEST(CoroTest, MillionsOfSequentialAwaitsDoNotGrowTheStack) {
  EventLoop loop;
  EXPECT_EQ(loop.run_until_complete(sum_of_answers(2'000'000)), 42L * 2'000'000);
}

TEST(CoroTest, MoveOnlyResult) {
  EventLoop loop;
  auto make = []() -> Coro<std::unique_ptr<int>> { co_return std::make_unique<int>(3); };
  auto main = [&]() -> Coro<int> {
    std::unique_ptr<int> p = co_await make();
    co_return *p;
  };
  EXPECT_EQ(loop.run_until_complete(main()), 3);
}

// ---- Creating and running tasks ------------------------------------------------------------

TEST(TaskTest, CreateTaskRunsOnTheNextIteration) {
  EventLoop loop;
  bool ran = false;
  auto body = [&]() -> Coro<> {
    ran = true;
    co_return;
  };
  Task<> t = loop.create_task(body());
  EXPECT_FALSE(ran);  // never synchronously
  EXPECT_FALSE(t.done());
  run_once(loop);
  EXPECT_TRUE(ran);
  EXPECT_TRUE(t.done());
}

TEST(TaskTest, ChildTaskStartsOnlyWhenTheParentYields) {
  EventLoop loop;
  std::vector<std::string> log;
  auto child = [&]() -> Coro<> {
    log.push_back("child");
    co_return;
  };
  auto parent = [&]() -> Coro<> {
    auto t = asyncio::create_task(child());
    log.push_back("parent before yield");
    co_await asyncio::sleep(0s);
    log.push_back("parent after yield");
    co_await t;
  };
  loop.run_until_complete(parent());
  EXPECT_EQ(log, (std::vector<std::string>{"parent before yield", "child", "parent after yield"}));
}

TEST(TaskTest, ResultAndException) {
  EventLoop loop;
  Task<int> ok = loop.create_task(answer());
  Task<> bad = loop.create_task(fail("nope"));
  EXPECT_THROW(ok.result(), asyncio::InvalidStateError);
  EXPECT_THROW(ok.exception(), asyncio::InvalidStateError);
  EXPECT_EQ(loop.run_until_complete(ok), 42);
  EXPECT_EQ(ok.result(), 42);
  EXPECT_EQ(ok.exception(), nullptr);
  EXPECT_THROW(loop.run_until_complete(bad), std::runtime_error);
  EXPECT_TRUE(bad.done());
  EXPECT_FALSE(bad.cancelled());
  EXPECT_EQ(asyncio::describe(bad.exception()), "nope");
}

TEST(TaskTest, AwaitingATaskGivesItsResultOrException) {
  EventLoop loop;
  auto main = []() -> Coro<std::string> {
    Task<int> t = asyncio::create_task(answer());
    int v = co_await t;
    int again = co_await t;  // a done task can be awaited again
    Task<> f = asyncio::create_task(fail("child failed"));
    try {
      co_await f;
    } catch (const std::runtime_error& e) {
      co_return std::to_string(v + again) + " " + e.what();
    }
    co_return "no";
  };
  EXPECT_EQ(loop.run_until_complete(main()), "84 child failed");
}

TEST(TaskTest, RunUntilCompleteOfAMoveOnlyTask) {
  EventLoop loop;
  auto make = []() -> Coro<std::unique_ptr<std::string>> {
    co_await asyncio::sleep(0s);
    co_return std::make_unique<std::string>("owned");
  };
  std::unique_ptr<std::string> p = loop.run_until_complete(make());
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, "owned");
}

TEST(TaskTest, FireAndForgetTaskRunsToCompletion) {
  EventLoop loop;
  int steps = 0;
  auto worker = [&]() -> Coro<> {
    for (int i = 0; i < 5; ++i) {
      co_await asyncio::sleep(0s);
      ++steps;
    }
  };
  auto main = [&]() -> Coro<> {
    asyncio::create_task(worker());  // handle dropped at once
    while (steps < 5) co_await asyncio::sleep(0s);
  };
  loop.run_until_complete(main());
  EXPECT_EQ(steps, 5);
  EXPECT_TRUE(asyncio::all_tasks(loop).empty());
}

TEST(TaskTest, TaskDoneCallbackReceivesTheTask) {
  EventLoop loop;
  Task<int> t = loop.create_task(answer());
  int got = 0;
  bool same = false;
  t.add_done_callback([&](Task<int>& done) {
    got = done.result();
    same = done == t;
  });
  loop.run_until_complete(t);
  run_once(loop);  // the callback was scheduled when the task finished
  EXPECT_EQ(got, 42);
  EXPECT_TRUE(same);

  // On a done task: scheduled soon, not called synchronously.
  int calls = 0;
  t.add_done_callback([&](Task<int>&) { ++calls; });
  EXPECT_EQ(calls, 0);
  run_once(loop);
  EXPECT_EQ(calls, 1);
}

TEST(TaskTest, AnyTaskDoneCallbackAndRemove) {
  EventLoop loop;
  Task<int> t = loop.create_task(answer());
  AnyTask any = t;
  std::vector<int> log;
  auto id = any.add_done_callback([&](AnyTask& a) { log.push_back(a.done() ? 1 : -1); });
  any.add_done_callback([&](AnyTask&) { log.push_back(2); });
  EXPECT_EQ(any.remove_done_callback(id), 1u);
  loop.run_until_complete(t);
  run_once(loop);
  EXPECT_EQ(log, std::vector<int>{2});
}

TEST(TaskTest, TaskAwaitingItselfRaises) {
  EventLoop loop;
  auto body = []() -> Coro<std::string> {
    AnyTask self = asyncio::current_task();
    try {
      co_await self;
    } catch (const asyncio::RuntimeError& e) {
      co_return e.what();
    }
    co_return "no error";
  };
  Task<std::string> t = loop.create_task(body(), "selfish");
  std::string msg = loop.run_until_complete(t);
  EXPECT_NE(msg.find("cannot await on itself"), std::string::npos) << msg;
  EXPECT_NE(msg.find("selfish"), std::string::npos) << msg;
}

// ---- Names, current_task, all_tasks ------------------------------------------------------

TEST(TaskTest, DefaultNamesAreTaskN) {
  EventLoop loop;
  Task<int> a = loop.create_task(answer());
  Task<int> b = loop.create_task(answer());
  Task<int> named = loop.create_task(answer(), "custom");
  Task<int> c = loop.create_task(answer());
  // A fresh loop counts from 1 (Python's counter is process-wide; ours is per loop).
  EXPECT_EQ(a.get_name(), "Task-1");
  EXPECT_EQ(b.get_name(), "Task-2");
  EXPECT_EQ(named.get_name(), "custom");
  EXPECT_EQ(c.get_name(), "Task-4");
  a.set_name("renamed");
  EXPECT_EQ(a.get_name(), "renamed");
  AnyTask any = b;
  any.set_name("via any");
  EXPECT_EQ(b.get_name(), "via any");
  loop.run_until_complete(c);
  run_once(loop);
}

TEST(TaskTest, CurrentTask) {
  // No running loop at all: Python's RuntimeError('no running event loop').
  EXPECT_THROW(
      {
        try {
          (void)asyncio::current_task();
        } catch (const asyncio::RuntimeError& e) {
          EXPECT_STREQ(e.what(), "no running event loop");
          throw;
        }
      },
      asyncio::RuntimeError);
  EventLoop loop;
  bool outside_in_callback = true;
  loop.call_soon([&] { outside_in_callback = asyncio::current_task().valid(); });
  run_once(loop);
  EXPECT_FALSE(outside_in_callback);

  AnyTask seen_a, seen_b, seen_nested;
  auto nested = [&]() -> Coro<> {
    seen_nested = asyncio::current_task();  // a Coro runs inside its awaiting task
    co_return;
  };
  auto a = [&]() -> Coro<> {
    co_await asyncio::sleep(0s);
    seen_a = asyncio::current_task();
    co_await nested();
  };
  auto b = [&]() -> Coro<> {
    seen_b = asyncio::current_task();
    co_return;
  };
  Task<> ta = loop.create_task(a());
  Task<> tb = loop.create_task(b());
  loop.run_until_complete(ta);
  loop.run_until_complete(tb);
  EXPECT_TRUE(seen_a == AnyTask(ta));
  EXPECT_TRUE(seen_b == AnyTask(tb));
  EXPECT_TRUE(seen_nested == AnyTask(ta));
  EXPECT_THROW((void)asyncio::current_task(), asyncio::RuntimeError);  // the loop stopped
}

TEST(TaskTest, AllTasksListsOnlyPendingTasks) {
  EventLoop loop;
  EXPECT_THROW(asyncio::all_tasks(), asyncio::RuntimeError);  // no running loop
  std::vector<AnyTask> seen;
  Task<> sleeper;
  auto main = [&]() -> Coro<> {
    Task<int> quick = asyncio::create_task(answer());
    sleeper = asyncio::create_task(sleep_long());
    co_await quick;
    seen = asyncio::all_tasks();
    sleeper.cancel();
    try {
      co_await sleeper;
    } catch (const CancelledError&) {
    }
  };
  Task<> m = loop.create_task(main());
  loop.run_until_complete(m);
  ASSERT_EQ(seen.size(), 2u);
  auto contains = [&](const AnyTask& t) {
    return std::find(seen.begin(), seen.end(), t) != seen.end();
  };
  EXPECT_TRUE(contains(AnyTask(m)));  // the current task is pending too
  EXPECT_TRUE(contains(AnyTask(sleeper)));
  EXPECT_TRUE(asyncio::all_tasks(loop).empty());
}

// ---- sleep -------------------------------------------------------------------------------

TEST(SleepTest, SleepZeroYieldsExactlyOnce) {
  EventLoop loop;
  std::vector<std::string> log;
  auto worker = [&](std::string name) -> Coro<> {
    for (int i = 1; i <= 3; ++i) {
      log.push_back(name + std::to_string(i));
      co_await asyncio::sleep(0s);
    }
  };
  auto main = [&]() -> Coro<> {
    auto a = asyncio::create_task(worker("a"));
    auto b = asyncio::create_task(worker("b"));
    co_await a;
    co_await b;
  };
  loop.run_until_complete(main());
  EXPECT_EQ(log, (std::vector<std::string>{"a1", "b1", "a2", "b2", "a3", "b3"}));
}

TEST(SleepTest, SleepReturnsTheGivenValue) {
  EventLoop loop;
  auto main = []() -> Coro<std::string> {
    int n = co_await asyncio::sleep(1ms, 7);
    std::string s = co_await asyncio::sleep(0s, std::string("text"));
    auto p = co_await asyncio::sleep(0s, std::make_unique<int>(n));
    co_return s + std::to_string(*p);
  };
  EXPECT_EQ(loop.run_until_complete(main()), "text7");
}

TEST(SleepTest, SleepWaitsAtLeastTheDelay) {
  EventLoop loop;
  auto main = [&]() -> Coro<double> {
    double t0 = loop.time();
    co_await asyncio::sleep(20ms);
    co_return loop.time() - t0;
  };
  EXPECT_GE(loop.run_until_complete(main()), 0.020 - 1e-3);
}

TEST(SleepTest, ShorterSleepsFinishFirst) {
  EventLoop loop;
  std::vector<int> order;
  auto sleeper = [&](int ms) -> Coro<> {
    co_await asyncio::sleep(std::chrono::milliseconds(ms));
    order.push_back(ms);
  };
  auto main = [&]() -> Coro<> {
    auto a = asyncio::create_task(sleeper(30));
    auto b = asyncio::create_task(sleeper(10));
    auto c = asyncio::create_task(sleeper(20));
    co_await a;
    co_await b;
    co_await c;
  };
  loop.run_until_complete(main());
  EXPECT_EQ(order, (std::vector<int>{10, 20, 30}));
}

TEST(SleepTest, SleepOutsideATaskRaises) {
  EventLoop loop;
  std::string error;
  auto body = [&]() -> Coro<> {
    try {
      co_await asyncio::sleep(0s);
    } catch (const asyncio::RuntimeError& e) {
      error = e.what();
    }
  };
  Coro<> c = body();
  auto h = c.release();
  h.resume();
  EXPECT_TRUE(h.done());
  h.destroy();
  EXPECT_NE(error.find("outside of a task"), std::string::npos) << error;
}

// ---- Cancellation --------------------------------------------------------------------------

TEST(TaskCancelTest, CancelWhileSleeping) {
  EventLoop loop;
  Task<> t = loop.create_task(sleep_long());
  run_once(loop);  // now sleeping
  EXPECT_FALSE(t.done());
  EXPECT_TRUE(t.cancel("stop sleeping"));
  EXPECT_FALSE(t.done());  // cancellation is delivered by the next step
  const double t0 = loop.time();
  EXPECT_THROW(loop.run_until_complete(t), CancelledError);
  EXPECT_LT(loop.time() - t0, 30.0);  // did not wait for the 60 s timer
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(cancelled_message([&] { t.result(); }), "stop sleeping");
  EXPECT_EQ(cancelled_message([&] { t.exception(); }), "stop sleeping");
  EXPECT_EQ(t.cancelling(), 1);
}

TEST(TaskCancelTest, CancelWhileAwaitingAFutureCancelsTheFuture) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  auto body = [&]() -> Coro<int> { co_return co_await f; };
  Task<int> t = loop.create_task(body());
  run_once(loop);
  EXPECT_TRUE(t.cancel("msg"));
  EXPECT_TRUE(f.cancelled());  // Python: the task cancels its _fut_waiter
  EXPECT_THROW(loop.run_until_complete(t), CancelledError);
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(cancelled_message([&] { t.result(); }), "msg");
}

TEST(TaskCancelTest, CancellingTheAwaiterCancelsTheAwaitedTask) {
  EventLoop loop;
  Task<> inner = loop.create_task(sleep_long());
  auto outer_body = [&]() -> Coro<> { co_await inner; };
  Task<> outer = loop.create_task(outer_body());
  run_once(loop);
  EXPECT_TRUE(outer.cancel("chain"));
  EXPECT_EQ(inner.cancelling(), 1);
  EXPECT_THROW(loop.run_until_complete(outer), CancelledError);
  EXPECT_TRUE(outer.cancelled());
  EXPECT_TRUE(inner.cancelled());
  EXPECT_EQ(cancelled_message([&] { inner.result(); }), "chain");
  EXPECT_EQ(cancelled_message([&] { outer.result(); }), "chain");
}

TEST(TaskCancelTest, AwaitedTaskSwallowingTheCancellationLetsTheAwaiterContinue) {
  // Python: the outer task's cancel() was passed on to the inner task, which returned a
  // value instead; the outer task simply receives that value and is not cancelled.
  EventLoop loop;
  auto inner_body = []() -> Coro<int> {
    try {
      co_await asyncio::sleep(60s);
    } catch (const CancelledError&) {
      co_return 5;
    }
    co_return 0;
  };
  Task<int> inner = loop.create_task(inner_body());
  auto outer_body = [&]() -> Coro<int> { co_return co_await inner; };
  Task<int> outer = loop.create_task(outer_body());
  run_once(loop);
  EXPECT_TRUE(outer.cancel());
  EXPECT_EQ(loop.run_until_complete(outer), 5);
  EXPECT_FALSE(outer.cancelled());
  EXPECT_FALSE(inner.cancelled());
  EXPECT_EQ(outer.cancelling(), 1);
  EXPECT_EQ(inner.cancelling(), 1);
}

TEST(TaskCancelTest, CancelBeforeTheFirstStepNeverRunsTheBody) {
  EventLoop loop;
  bool ran = false;
  auto body = [&]() -> Coro<int> {
    ran = true;
    co_return 1;
  };
  Task<int> t = loop.create_task(body());
  EXPECT_TRUE(t.cancel("early"));
  EXPECT_TRUE(t.cancel("again"));
  EXPECT_EQ(t.cancelling(), 2);
  EXPECT_THROW(loop.run_until_complete(t), CancelledError);
  EXPECT_FALSE(ran);
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(cancelled_message([&] { t.result(); }), "again");
}

TEST(TaskCancelTest, CancelOfADoneTaskReturnsFalse) {
  EventLoop loop;
  Task<int> t = loop.create_task(answer());
  loop.run_until_complete(t);
  EXPECT_FALSE(t.cancel());
  EXPECT_FALSE(t.cancelled());
  EXPECT_EQ(t.cancelling(), 0);
  EXPECT_EQ(t.result(), 42);

  Task<> c = loop.create_task(sleep_long());
  run_once(loop);
  c.cancel();
  EXPECT_THROW(loop.run_until_complete(c), CancelledError);
  EXPECT_FALSE(c.cancel());
  EXPECT_EQ(c.cancelling(), 1);
}

TEST(TaskCancelTest, CancelMessageReachesTheCoroutine) {
  EventLoop loop;
  std::string seen;
  auto inner = [&]() -> Coro<> {
    try {
      co_await asyncio::sleep(60s);
    } catch (const CancelledError& e) {
      seen = e.message();
      throw;
    }
  };
  auto body = [&]() -> Coro<> { co_await inner(); };
  Task<> t = loop.create_task(body());
  run_once(loop);
  t.cancel("the message");
  EXPECT_THROW(loop.run_until_complete(t), CancelledError);
  EXPECT_EQ(seen, "the message");
}

TEST(TaskCancelTest, CancellingAndUncancelCount) {
  EventLoop loop;
  auto body = []() -> Coro<int> {
    int caught = 0;
    for (int i = 0; i < 2; ++i) {
      try {
        co_await asyncio::sleep(60s);
      } catch (const CancelledError&) {
        ++caught;
      }
    }
    co_return caught;
  };
  Task<int> t = loop.create_task(body());
  EXPECT_EQ(t.cancelling(), 0);
  EXPECT_EQ(t.uncancel(), 0);  // never below zero
  run_once(loop);
  EXPECT_TRUE(t.cancel());
  EXPECT_TRUE(t.cancel());  // both requests count, one CancelledError is delivered
  EXPECT_EQ(t.cancelling(), 2);
  run_once(loop);  // delivers the CancelledError; the task sleeps again
  EXPECT_FALSE(t.done());
  EXPECT_EQ(t.uncancel(), 1);
  EXPECT_EQ(t.cancelling(), 1);
  EXPECT_TRUE(t.cancel());
  EXPECT_EQ(t.cancelling(), 2);
  EXPECT_EQ(loop.run_until_complete(t), 2);
  EXPECT_FALSE(t.cancelled());
  EXPECT_EQ(t.uncancel(), 1);
  EXPECT_EQ(t.uncancel(), 0);
  EXPECT_EQ(t.uncancel(), 0);
}

TEST(TaskCancelTest, SelfCancelIsDeliveredAtTheNextSuspension) {
  EventLoop loop;
  std::vector<std::string> log;
  Future<int> done = loop.create_future<int>();
  done.set_result(1);
  auto body = [&]() -> Coro<> {
    EXPECT_TRUE(asyncio::current_task().cancel("self"));
    log.push_back("still running");
    co_await done;  // a done future does not suspend: no delivery here
    log.push_back("after done future");
    try {
      co_await asyncio::sleep(60s);
    } catch (const CancelledError& e) {
      log.push_back("cancelled: " + e.message());
      throw;
    }
  };
  Task<> t = loop.create_task(body());
  const double t0 = loop.time();
  EXPECT_THROW(loop.run_until_complete(t), CancelledError);
  EXPECT_LT(loop.time() - t0, 30.0);
  EXPECT_EQ(log,
            (std::vector<std::string>{"still running", "after done future", "cancelled: self"}));
  EXPECT_TRUE(t.cancelled());
}

TEST(TaskCancelTest, SelfCancelDeliveredThroughSleepZero) {
  EventLoop loop;
  int steps = 0;
  auto body = [&]() -> Coro<> {
    asyncio::current_task().cancel();
    ++steps;
    co_await asyncio::sleep(0s);
    ++steps;  // not reached
  };
  Task<> t = loop.create_task(body());
  EXPECT_THROW(loop.run_until_complete(t), CancelledError);
  EXPECT_EQ(steps, 1);
  EXPECT_TRUE(t.cancelled());
}

TEST(TaskCancelTest, SelfCancelThenReturnDropsTheResult) {
  // Python: a task cancelled right before its coroutine returns ends cancelled.
  EventLoop loop;
  auto body = []() -> Coro<int> {
    asyncio::current_task().cancel("too late");
    co_return 5;
  };
  Task<int> t = loop.create_task(body());
  EXPECT_THROW(loop.run_until_complete(t), CancelledError);
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(cancelled_message([&] { t.result(); }), "too late");
}

TEST(TaskCancelTest, CatchingCancelledErrorAndContinuing) {
  EventLoop loop;
  auto body = []() -> Coro<int> {
    int v = 0;
    try {
      co_await asyncio::sleep(60s);
    } catch (const CancelledError&) {
      v = 1;
      EXPECT_EQ(asyncio::current_task().cancelling(), 1);
    }
    co_await asyncio::sleep(0s);  // not cancelled again
    co_await asyncio::sleep(1ms);
    co_return v + 6;
  };
  Task<int> t = loop.create_task(body());
  run_once(loop);
  t.cancel();
  EXPECT_EQ(loop.run_until_complete(t), 7);
  EXPECT_FALSE(t.cancelled());
  EXPECT_EQ(t.cancelling(), 1);
}

TEST(TaskCancelTest, CancelledErrorIsNotAStdException) {
  EventLoop loop;
  bool caught_as_std = false;
  auto body = [&]() -> Coro<> {
    try {
      co_await asyncio::sleep(60s);
    } catch (const std::exception&) {
      caught_as_std = true;  // `except Exception` never catches CancelledError
    }
  };
  Task<> t = loop.create_task(body());
  run_once(loop);
  t.cancel();
  EXPECT_THROW(loop.run_until_complete(t), CancelledError);
  EXPECT_FALSE(caught_as_std);
  EXPECT_TRUE(t.cancelled());
  static_assert(!std::is_base_of_v<std::exception, CancelledError>);
}

TEST(TaskCancelTest, CancelWhileTheFutureWakeUpIsQueued) {
  // The awaited future completes, then the task is cancelled before it runs: Python sets
  // _must_cancel, the result is dropped and the task sees CancelledError.
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  bool got_value = false;
  auto body = [&]() -> Coro<> {
    co_await f;
    got_value = true;
  };
  Task<> t = loop.create_task(body());
  run_once(loop);
  loop.call_soon([&] {
    f.set_result(1);
    EXPECT_TRUE(t.cancel("queued"));
    EXPECT_FALSE(f.cancelled());
  });
  EXPECT_THROW(loop.run_until_complete(t), CancelledError);
  EXPECT_FALSE(got_value);
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(cancelled_message([&] { t.result(); }), "queued");
  EXPECT_EQ(f.result(), 1);
}

TEST(TaskCancelTest, CancelWhileTheAwaitedTaskWakeUpIsQueued) {
  EventLoop loop;
  auto inner_body = []() -> Coro<int> {
    co_await asyncio::sleep(0s);
    co_return 3;
  };
  Task<int> inner = loop.create_task(inner_body());
  int got = 0;
  auto outer_body = [&]() -> Coro<> { got = co_await inner; };
  Task<> outer = loop.create_task(outer_body());
  inner.add_done_callback([&](Task<int>&) {
    // Runs right after inner finished, before the outer task's wake-up.
    EXPECT_TRUE(outer.cancel());
  });
  EXPECT_THROW(loop.run_until_complete(outer), CancelledError);
  EXPECT_EQ(got, 0);
  EXPECT_EQ(inner.result(), 3);
  EXPECT_TRUE(outer.cancelled());
}

TEST(TaskCancelTest, CancelWhenTheSleepTimerAlreadyFired) {
  // The sleep's timer has expired and its wake-up is queued when cancel() comes: the task must
  // be woken exactly once, with CancelledError (Python: the sleep future is still pending, so
  // cancelling it wins; the timer's _set_result_unless_cancelled then does nothing).
  EventLoop loop;
  std::vector<std::string> log;
  auto body = [&]() -> Coro<int> {
    try {
      co_await asyncio::sleep(5ms);
      log.push_back("slept");
    } catch (const CancelledError&) {
      log.push_back("cancelled");
    }
    co_await asyncio::sleep(0s);
    log.push_back("yielded");
    co_await asyncio::sleep(0s);
    log.push_back("yielded again");
    co_return 1;
  };
  Task<int> t = loop.create_task(body());
  run_once(loop);  // sleeping on a 5 ms timer
  // Ordered before the sleep's timer (earlier deadline): both expire in the same iteration.
  loop.call_at(loop.time() + 0.001, [&] { EXPECT_TRUE(t.cancel()); });
  loop.call_soon([] { std::this_thread::sleep_for(20ms); });  // let both deadlines pass
  EXPECT_EQ(loop.run_until_complete(t), 1);
  EXPECT_EQ(log, (std::vector<std::string>{"cancelled", "yielded", "yielded again"}));
  EXPECT_FALSE(t.cancelled());
}

TEST(TaskCancelTest, CancelRepeatedWhileSleepingDeliversOneError) {
  EventLoop loop;
  auto body = []() -> Coro<int> {
    int caught = 0;
    try {
      co_await asyncio::sleep(60s);
    } catch (const CancelledError&) {
      ++caught;
    }
    try {
      co_await asyncio::sleep(0s);
      co_await asyncio::sleep(1ms);
    } catch (const CancelledError&) {
      caught += 10;
    }
    co_return caught;
  };
  Task<int> t = loop.create_task(body());
  run_once(loop);
  t.cancel("one");
  t.cancel("two");
  t.cancel("three");
  EXPECT_EQ(loop.run_until_complete(t), 1);
  EXPECT_EQ(t.cancelling(), 3);
}

// Python delivers the CancelledError of the awaited future, i.e. the FIRST message ("one"),
// and the later requests are consumed with it.
TEST(TaskCancelTest, RepeatedCancelKeepsTheFirstMessage) {
  EventLoop loop;
  auto body = []() -> Coro<std::string> {
    try {
      co_await asyncio::sleep(60s);
    } catch (const CancelledError& e) {
      co_return e.message();
    }
    co_return "not cancelled";
  };
  Task<std::string> t = loop.create_task(body());
  run_once(loop);
  t.cancel("one");
  t.cancel("two");
  t.cancel("three");
  EXPECT_EQ(loop.run_until_complete(t), "one");
}

TEST(TaskCancelTest, RepeatedCancelWhileAwaitingAFutureKeepsTheFirstMessage) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  auto body = [&]() -> Coro<std::string> {
    try {
      co_await f;
    } catch (const CancelledError& e) {
      co_return e.message();
    }
    co_return "not cancelled";
  };
  Task<std::string> t = loop.create_task(body());
  run_once(loop);
  EXPECT_TRUE(t.cancel("one"));  // cancels f with "one"
  EXPECT_TRUE(t.cancel("two"));  // f is done: must_cancel, consumed by f's CancelledError
  EXPECT_EQ(loop.run_until_complete(t), "one");
  EXPECT_EQ(t.cancelling(), 2);
}

TEST(TaskCancelTest, CancelTaskAwaitingANestedCoroWaitingOnAFuture) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  auto leaf = [&]() -> Coro<int> { co_return co_await f; };
  auto mid = [&]() -> Coro<int> { co_return co_await leaf() + 1; };
  auto body = [&]() -> Coro<int> { co_return co_await mid() + 1; };
  Task<int> t = loop.create_task(body());
  run_once(loop);
  t.cancel();
  EXPECT_THROW(loop.run_until_complete(t), CancelledError);
  EXPECT_TRUE(f.cancelled());
}

// ---- Exceptions nobody retrieved -----------------------------------------------------------

TEST(TaskTest, FireAndForgetExceptionIsReportedWhenTheTaskFinishes) {
  EventLoop loop;
  HandlerLog handler;
  handler.install(loop);
  auto main = [&]() -> Coro<> {
    asyncio::create_task(fail("forgotten"), "orphan");
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
  };
  loop.run_until_complete(main());
  ASSERT_EQ(handler.count("Task exception was never retrieved"), 1u);
  const auto& c = handler.contexts[0];
  EXPECT_EQ(asyncio::describe(c.exception), "forgotten");
  EXPECT_NE(c.task.find("orphan"), std::string::npos) << c.task;
}

TEST(TaskTest, UnretrievedTaskExceptionIsReportedWhenTheLastHandleGoes) {
  EventLoop loop;
  HandlerLog handler;
  handler.install(loop);
  Task<> t = loop.create_task(fail("kept"));
  run_once(loop);
  EXPECT_TRUE(t.done());
  EXPECT_TRUE(handler.contexts.empty());  // a handle still exists: it may be read later
  t = Task<>();
  EXPECT_EQ(handler.count("Task exception was never retrieved"), 1u);
}

TEST(TaskTest, RetrievedTaskExceptionIsNotReported) {
  EventLoop loop;
  HandlerLog handler;
  handler.install(loop);
  {
    Task<> t = loop.create_task(fail("read"));
    run_once(loop);
    EXPECT_TRUE(t.exception());
  }
  {
    auto main = []() -> Coro<> {
      try {
        co_await asyncio::create_task(fail("awaited"));
      } catch (const std::runtime_error&) {
      }
    };
    loop.run_until_complete(main());
  }
  {
    Task<> t = loop.create_task(fail("cancel() of a done task clears it too"));
    run_once(loop);
    EXPECT_FALSE(t.cancel());
  }
  {
    // Cancelled tasks never report.
    Task<> t = loop.create_task(sleep_long());
    run_once(loop);
    t.cancel();
    run_once(loop);
    EXPECT_TRUE(t.cancelled());
  }
  EXPECT_TRUE(handler.contexts.empty());
}

// When a sleep's deadline and another timer are due in the same loop iteration (here: the loop
// was blocked past both), CPython wakes the tasks in deadline order: each timer callback only
// schedules its task's wake-up (call_soon), so a task woken by an earlier call_later callback
// runs before the sleeper. A sleep that stepped its task straight from the timer phase ran the
// sleeper one hop early, ahead of it. Found by tests/difftest (seed 256): with a loaded machine
// a 10 ms late wake-up reordered a wait_for timeout and a sleep.
TEST(SleepTest, WakesInDeadlineOrderWithOtherTimersDueTogether) {
  EventLoop loop;
  std::vector<std::string> order;
  auto body = [&]() -> Coro<> {
    Future<int> f = loop.create_future<int>();
    auto a = [&](Future<int> fut) -> Coro<> {
      co_await fut;
      order.push_back("a");
    };
    auto b = [&]() -> Coro<> {
      co_await asyncio::sleep(20ms);
      order.push_back("b");
    };
    auto ta = asyncio::create_task(a(f));
    auto tb = asyncio::create_task(b());
    co_await asyncio::sleep(0s);
    loop.call_later(10ms, [f]() mutable { f.set_result(1); });
    // Blocks the loop: both timers are due together afterwards.
    loop.call_soon([] { std::this_thread::sleep_for(50ms); });
    co_await ta;
    co_await tb;
  };
  loop.run_until_complete(body());
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b"}));
}
