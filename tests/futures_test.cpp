// Tests of Future<T> (Python: test_asyncio/test_futures.py).

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/events.hpp"
#include "asyncio/futures.hpp"
#include "asyncio/tasks.hpp"
#include "core_helpers.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::EventLoop;
using asyncio::Future;

namespace {

using coretest::cancelled_message;
using coretest::HandlerLog;
using coretest::run_once;

}  // namespace

// ---- States ----------------------------------------------------------------------------------

TEST(FutureTest, InitialState) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  EXPECT_TRUE(f.valid());
  EXPECT_FALSE(f.done());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(&f.get_loop(), &loop);
  Future<int> empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_FALSE(static_cast<bool>(empty));
}

TEST(FutureTest, SetResultThenResult) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  f.set_result(42);
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.result(), 42);
  EXPECT_EQ(f.result(), 42);  // result() can be read repeatedly
  EXPECT_EQ(f.exception(), nullptr);
}

TEST(FutureTest, VoidFuture) {
  EventLoop loop;
  Future<> f = loop.create_future();
  f.set_result();
  EXPECT_TRUE(f.done());
  EXPECT_NO_THROW(f.result());
  EXPECT_THROW(f.set_result(), asyncio::InvalidStateError);
}

TEST(FutureTest, ResultWhilePendingRaisesInvalidState) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  try {
    f.result();
    ADD_FAILURE() << "no exception";
  } catch (const asyncio::InvalidStateError& e) {
    EXPECT_STREQ(e.what(), "Result is not set.");  // CPython 3.12
  }
  try {
    f.exception();
    ADD_FAILURE() << "no exception";
  } catch (const asyncio::InvalidStateError& e) {
    EXPECT_STREQ(e.what(), "Exception is not set.");
  }
}

TEST(FutureTest, SetExceptionThenException) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  f.set_exception(std::runtime_error("broken"));
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.cancelled());
  std::exception_ptr e = f.exception();
  ASSERT_TRUE(e);
  EXPECT_EQ(asyncio::describe(e), "broken");
  EXPECT_THROW(f.result(), std::runtime_error);
}

TEST(FutureTest, SetExceptionPtr) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  f.set_exception(std::make_exception_ptr(std::out_of_range("range")));
  EXPECT_THROW(f.result(), std::out_of_range);
}

TEST(FutureTest, SetNullExceptionRaisesValueError) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  EXPECT_THROW(f.set_exception(std::exception_ptr()), asyncio::ValueError);
  EXPECT_FALSE(f.done());
}

TEST(FutureTest, SetTwiceRaisesInvalidState) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  f.set_result(1);
  EXPECT_THROW(f.set_result(2), asyncio::InvalidStateError);
  EXPECT_THROW(f.set_exception(std::runtime_error("x")), asyncio::InvalidStateError);
  EXPECT_EQ(f.result(), 1);  // unchanged

  Future<int> g = loop.create_future<int>();
  g.set_exception(std::runtime_error("first"));
  EXPECT_THROW(g.set_result(2), asyncio::InvalidStateError);
  EXPECT_THROW(g.set_exception(std::runtime_error("second")), asyncio::InvalidStateError);
  EXPECT_EQ(asyncio::describe(g.exception()), "first");
}

TEST(FutureTest, SetAfterCancelRaisesInvalidState) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  EXPECT_TRUE(f.cancel());
  EXPECT_THROW(f.set_result(1), asyncio::InvalidStateError);
  EXPECT_THROW(f.set_exception(std::runtime_error("x")), asyncio::InvalidStateError);
  EXPECT_TRUE(f.cancelled());
}

TEST(FutureTest, CancelWithMessage) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  EXPECT_TRUE(f.cancel("why not"));
  EXPECT_TRUE(f.done());
  EXPECT_TRUE(f.cancelled());
  EXPECT_EQ(cancelled_message([&] { f.result(); }), "why not");
  EXPECT_EQ(cancelled_message([&] { f.exception(); }), "why not");
}

TEST(FutureTest, CancelWithoutMessage) {
  EventLoop loop;
  Future<> f = loop.create_future();
  EXPECT_TRUE(f.cancel());
  EXPECT_EQ(cancelled_message([&] { f.result(); }), "");
}

TEST(FutureTest, CancelOfADoneFutureReturnsFalse) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  f.set_result(3);
  EXPECT_FALSE(f.cancel());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.result(), 3);

  Future<int> g = loop.create_future<int>();
  EXPECT_TRUE(g.cancel("first"));
  EXPECT_FALSE(g.cancel("second"));
  EXPECT_EQ(cancelled_message([&] { g.result(); }), "first");
}

TEST(FutureTest, CopiesAreHandlesToTheSameFuture) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  Future<int> g = f;
  EXPECT_TRUE(f == g);
  EXPECT_FALSE(f == loop.create_future<int>());
  g.set_result(9);
  EXPECT_TRUE(f.done());
  EXPECT_EQ(f.result(), 9);
}

TEST(FutureTest, MoveOnlyValue) {
  EventLoop loop;
  Future<std::unique_ptr<int>> f = loop.create_future<std::unique_ptr<int>>();
  f.set_result(std::make_unique<int>(5));
  ASSERT_TRUE(f.result());
  EXPECT_EQ(*f.result(), 5);
}

// ---- Done callbacks --------------------------------------------------------------------------

TEST(FutureTest, DoneCallbacksRunSoonInRegistrationOrder) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  std::vector<std::string> log;
  for (int i = 1; i <= 3; ++i) {
    f.add_done_callback([&log, i](Future<int>& fut) {
      log.push_back(std::to_string(i) + ":" + std::to_string(fut.result()));
    });
  }
  f.set_result(7);
  EXPECT_TRUE(log.empty());  // scheduled with call_soon, never run synchronously
  run_once(loop);
  EXPECT_EQ(log, (std::vector<std::string>{"1:7", "2:7", "3:7"}));
  run_once(loop);
  EXPECT_EQ(log.size(), 3u);  // each ran once
}

TEST(FutureTest, DoneCallbacksRunAfterCallbacksAlreadyScheduled) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  std::vector<std::string> log;
  loop.call_soon([&] { log.push_back("before"); });
  f.add_done_callback([&](Future<int>&) { log.push_back("cb"); });
  f.set_result(1);
  loop.call_soon([&] { log.push_back("after"); });
  run_once(loop);
  EXPECT_EQ(log, (std::vector<std::string>{"before", "cb", "after"}));
}

TEST(FutureTest, CallbackAddedAfterDoneIsScheduledNotCalled) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  f.set_result(1);
  int calls = 0;
  f.add_done_callback([&](Future<int>&) { ++calls; });
  EXPECT_EQ(calls, 0);
  run_once(loop);
  EXPECT_EQ(calls, 1);
}

TEST(FutureTest, CallbackRunsOnCancel) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  bool saw_cancelled = false;
  f.add_done_callback([&](const Future<int>& fut) { saw_cancelled = fut.cancelled(); });
  f.cancel();
  run_once(loop);
  EXPECT_TRUE(saw_cancelled);
}

TEST(FutureTest, RemoveDoneCallback) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  std::vector<int> log;
  auto id1 = f.add_done_callback([&](Future<int>&) { log.push_back(1); });
  auto id2 = f.add_done_callback([&](Future<int>&) { log.push_back(2); });
  auto id3 = f.add_done_callback([&](Future<int>&) { log.push_back(3); });
  EXPECT_NE(id1, id2);
  EXPECT_NE(id2, id3);
  EXPECT_EQ(f.remove_done_callback(id2), 1u);
  EXPECT_EQ(f.remove_done_callback(id2), 0u);
  EXPECT_EQ(f.remove_done_callback(12345), 0u);
  f.set_result(0);
  // Once scheduled, a callback can no longer be removed (Python clears the list).
  EXPECT_EQ(f.remove_done_callback(id3), 0u);
  run_once(loop);
  EXPECT_EQ(log, (std::vector<int>{1, 3}));
}

TEST(FutureTest, CallbackExceptionGoesToTheHandler) {
  EventLoop loop;
  HandlerLog handler;
  handler.install(loop);
  Future<int> f = loop.create_future<int>();
  bool second_ran = false;
  f.add_done_callback([](Future<int>&) { throw std::runtime_error("cb failed"); });
  f.add_done_callback([&](Future<int>&) { second_ran = true; });
  f.set_result(1);
  run_once(loop);
  ASSERT_EQ(handler.count("Exception in callback"), 1u);
  EXPECT_EQ(asyncio::describe(handler.contexts[0].exception), "cb failed");
  EXPECT_TRUE(second_ran);
}

TEST(FutureTest, CallbackKeepsTheFutureAlive) {
  EventLoop loop;
  int value = 0;
  {
    Future<int> f = loop.create_future<int>();
    f.add_done_callback([&](Future<int>& fut) { value = fut.result(); });
    f.set_result(11);
  }  // the last user handle is gone; the scheduled callback still holds the future
  run_once(loop);
  EXPECT_EQ(value, 11);
}

TEST(FutureTest, PendingFutureWithCallbacksIsFreedWhenDropped) {
  auto payload = std::make_shared<int>(0);
  EventLoop loop;
  {
    Future<int> f = loop.create_future<int>();
    f.add_done_callback([payload](Future<int>&) {});
    EXPECT_EQ(payload.use_count(), 2);
  }
  EXPECT_EQ(payload.use_count(), 1);
}

TEST(FutureTest, ScheduledCallbackIsFreedWhenTheLoopCloses) {
  auto payload = std::make_shared<int>(0);
  {
    EventLoop loop;
    Future<int> f = loop.create_future<int>();
    f.add_done_callback([payload](Future<int>&) {});
    f.set_result(1);
    loop.close();
    EXPECT_EQ(payload.use_count(), 1);
  }
}

// ---- Awaiting from a task --------------------------------------------------------------------

TEST(FutureTest, AwaitFromATask) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  auto body = [&]() -> Coro<int> {
    int v = co_await f;
    co_return v + 1;
  };
  loop.call_soon([f] { f.set_result(41); });
  EXPECT_EQ(loop.run_until_complete(body()), 42);
}

TEST(FutureTest, AwaitRethrowsTheException) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  auto body = [&]() -> Coro<std::string> {
    try {
      co_await f;
    } catch (const std::runtime_error& e) {
      co_return e.what();
    }
    co_return "no exception";
  };
  loop.call_soon([f] { f.set_exception(std::runtime_error("awaited failure")); });
  EXPECT_EQ(loop.run_until_complete(body()), "awaited failure");
}

TEST(FutureTest, AwaitLvalueGivesAReferenceRvalueMovesOut) {
  EventLoop loop;
  Future<std::unique_ptr<int>> f = loop.create_future<std::unique_ptr<int>>();
  auto body = [&]() -> Coro<int> {
    const std::unique_ptr<int>& ref = co_await f;
    EXPECT_EQ(ref.get(), f.result().get());
    std::unique_ptr<int> owned = co_await std::move(f);
    EXPECT_FALSE(f.result());  // moved out of the future
    co_return *owned;
  };
  f.set_result(std::make_unique<int>(8));
  EXPECT_EQ(loop.run_until_complete(body()), 8);
}

TEST(FutureTest, AwaitingADoneFutureDoesNotYield) {
  // Python: `await fut` on a done future returns at once, without a trip through the loop.
  EventLoop loop;
  Future<int> done = loop.create_future<int>();
  done.set_result(5);
  std::vector<std::string> log;
  auto a = [&]() -> Coro<> {
    log.push_back("a1");
    co_await done;
    log.push_back("a2");
    co_await asyncio::sleep(0s);
    log.push_back("a3");
  };
  auto b = [&]() -> Coro<> {
    log.push_back("b1");
    co_return;
  };
  auto main = [&]() -> Coro<> {
    auto ta = asyncio::create_task(a());
    auto tb = asyncio::create_task(b());
    co_await ta;
    co_await tb;
  };
  loop.run_until_complete(main());
  EXPECT_EQ(log, (std::vector<std::string>{"a1", "a2", "b1", "a3"}));
}

TEST(FutureTest, AwaitingAPendingFutureSuspendsUntilItIsSet) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  std::vector<std::string> log;
  auto waiter = [&]() -> Coro<> {
    log.push_back("wait");
    int v = co_await f;
    log.push_back("got " + std::to_string(v));
  };
  auto setter = [&]() -> Coro<> {
    co_await asyncio::sleep(0s);
    log.push_back("set");
    f.set_result(3);
    log.push_back("after set");  // the waiter resumes later, not inside set_result()
    co_return;
  };
  auto main = [&]() -> Coro<> {
    auto w = asyncio::create_task(waiter());
    auto s = asyncio::create_task(setter());
    co_await w;
    co_await s;
  };
  loop.run_until_complete(main());
  EXPECT_EQ(log, (std::vector<std::string>{"wait", "set", "after set", "got 3"}));
}

TEST(FutureTest, CancellingTheAwaitedFutureCancelsTheTask) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  auto body = [&]() -> Coro<int> { co_return co_await f; };
  asyncio::Task<int> t = loop.create_task(body());
  run_once(loop);  // the task now waits on f
  EXPECT_TRUE(f.cancel("fut msg"));
  EXPECT_THROW(loop.run_until_complete(t), asyncio::CancelledError);
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(cancelled_message([&] { t.result(); }), "fut msg");
}

TEST(FutureTest, ManyTasksAwaitingOneFuture) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  std::vector<int> results;
  auto waiter = [&](int k) -> Coro<> {
    int v = co_await f;
    results.push_back(v * 10 + k);
  };
  std::vector<asyncio::Task<>> tasks;
  for (int k = 0; k < 4; ++k) tasks.push_back(loop.create_task(waiter(k)));
  run_once(loop);
  f.set_result(1);
  for (auto& t : tasks) loop.run_until_complete(t);
  EXPECT_EQ(results, (std::vector<int>{10, 11, 12, 13}));  // woken in awaiting order
}

TEST(FutureTest, AwaitOutsideATaskRaises) {
  // A future can only be awaited by a task: driving the coroutine by hand is rejected.
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  std::string error;
  auto body = [&]() -> Coro<> {
    try {
      co_await f;
    } catch (const asyncio::RuntimeError& e) {
      error = e.what();
    }
  };
  Coro<> c = body();
  auto h = c.release();
  h.resume();  // not inside a task
  EXPECT_TRUE(h.done());
  h.destroy();
  EXPECT_NE(error.find("outside of a task"), std::string::npos) << error;
}

// ---- Exception never retrieved -----------------------------------------------------------------

TEST(FutureTest, UnretrievedExceptionIsReportedWhenDropped) {
  EventLoop loop;
  HandlerLog handler;
  handler.install(loop);
  {
    Future<int> f = loop.create_future<int>();
    f.set_exception(std::runtime_error("lost"));
  }
  ASSERT_EQ(handler.count("Future exception was never retrieved"), 1u);
  EXPECT_EQ(asyncio::describe(handler.contexts[0].exception), "lost");
  EXPECT_EQ(handler.contexts[0].task, "Future");
}

TEST(FutureTest, UnretrievedExceptionReportedOnlyWhenTheLastCopyGoes) {
  EventLoop loop;
  HandlerLog handler;
  handler.install(loop);
  Future<int> keep;
  {
    Future<int> f = loop.create_future<int>();
    keep = f;
    f.set_exception(std::runtime_error("lost"));
  }
  EXPECT_TRUE(handler.contexts.empty());
  keep = Future<int>();
  EXPECT_EQ(handler.count("Future exception was never retrieved"), 1u);
}

TEST(FutureTest, RetrievedExceptionIsNotReported) {
  EventLoop loop;
  HandlerLog handler;
  handler.install(loop);
  {
    Future<int> f = loop.create_future<int>();
    f.set_exception(std::runtime_error("seen"));
    EXPECT_TRUE(f.exception());
  }
  {
    Future<int> f = loop.create_future<int>();
    f.set_exception(std::runtime_error("seen"));
    EXPECT_THROW(f.result(), std::runtime_error);
  }
  {
    // Python: cancel() of a done future clears the "never retrieved" flag as well.
    Future<int> f = loop.create_future<int>();
    f.set_exception(std::runtime_error("seen"));
    EXPECT_FALSE(f.cancel());
  }
  {
    Future<int> f = loop.create_future<int>();
    f.set_exception(std::runtime_error("seen"));
    auto body = [&]() -> Coro<> {
      try {
        co_await f;
      } catch (const std::runtime_error&) {
      }
    };
    loop.run_until_complete(body());
  }
  {
    // Successful and cancelled futures never report anything.
    Future<int> ok = loop.create_future<int>();
    ok.set_result(1);
    Future<int> cancelled = loop.create_future<int>();
    cancelled.cancel();
  }
  EXPECT_TRUE(handler.contexts.empty());
}

TEST(FutureTest, UnretrievedExceptionReportedFromADoneCallbackHandle) {
  // The done callback's handle is the last one: when it goes, the report happens.
  EventLoop loop;
  HandlerLog handler;
  handler.install(loop);
  bool ran = false;
  {
    Future<int> f = loop.create_future<int>();
    f.add_done_callback([&](Future<int>& fut) { ran = fut.done(); });
    f.set_exception(std::runtime_error("cb did not look"));
  }
  EXPECT_TRUE(handler.contexts.empty());
  run_once(loop);
  EXPECT_TRUE(ran);
  EXPECT_EQ(handler.count("Future exception was never retrieved"), 1u);
}

TEST(FutureTest, UnretrievedExceptionAfterTheLoopIsGoneGoesToStderr) {
  Future<int> f;
  {
    EventLoop loop;
    f = loop.create_future<int>();
    f.set_exception(std::runtime_error("orphan"));
  }
  testing::internal::CaptureStderr();
  f = Future<int>();
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("Future exception was never retrieved"), std::string::npos) << err;
  EXPECT_NE(err.find("orphan"), std::string::npos) << err;
}

// ---- After the loop closed -------------------------------------------------------------------

TEST(FutureTest, CallbackAddedAfterTheLoopClosedIsDroppedNotLeaked) {
  // Python raises RuntimeError("Event loop is closed") from call_soon here; the callback can
  // never run, and it must not leak (the callback and the future it holds).
  auto payload = std::make_shared<int>(0);
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  f.set_result(1);
  loop.close();
  bool ran = false;
  try {
    f.add_done_callback([payload, &ran](Future<int>&) { ran = true; });
  } catch (const asyncio::RuntimeError&) {
  }
  EXPECT_FALSE(ran);
  EXPECT_EQ(payload.use_count(), 1);
}

TEST(FutureTest, CompletingAFutureAfterTheLoopClosedDropsItsCallbacks) {
  auto payload = std::make_shared<int>(0);
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  bool ran = false;
  f.add_done_callback([payload, &ran](Future<int>&) { ran = true; });
  loop.close();
  try {
    f.set_result(1);
  } catch (const asyncio::RuntimeError&) {
  }
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(ran);
  EXPECT_EQ(payload.use_count(), 1);
}
