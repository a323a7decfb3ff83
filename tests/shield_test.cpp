// Tests of shield() (Python: the shield cases of test_asyncio/test_tasks.py): results and
// exceptions pass through; cancelling the outer future (or the task awaiting it) leaves the
// inner work running; cancelling the inner work cancels the outer future.
#include <gtest/gtest.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
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

using asyncio::Future;
using asyncio::Task;

struct BoomError : std::runtime_error {
  BoomError() : std::runtime_error("boom") {}
};

// Lets callbacks scheduled now (and the ones they schedule) run: Python's run_briefly.
Coro<> run_briefly() {
  co_await asyncio::sleep(0s);
  co_await asyncio::sleep(0s);
}

// ---- test_tasks.py ----------------------------------------------------------------------------

TEST(Shield, Result) {
  run_main([&]() -> Coro<> {
    Future<int> inner = asyncio::get_running_loop().create_future<int>();
    Future<int> outer = asyncio::shield(inner);
    inner.set_result(42);
    EXPECT_EQ(co_await outer, 42);
  });
}

TEST(Shield, Exception) {
  run_main([&]() -> Coro<> {
    Future<int> inner = asyncio::get_running_loop().create_future<int>();
    Future<int> outer = asyncio::shield(inner);
    co_await run_briefly();
    std::exception_ptr exc = std::make_exception_ptr(BoomError());
    inner.set_exception(exc);
    co_await run_briefly();
    EXPECT_TRUE(outer.done());
    EXPECT_EQ(outer.exception(), exc);  // the very same exception object
    EXPECT_EQ(inner.exception(), exc);
  });
}

TEST(Shield, CancelInner) {
  run_main([&]() -> Coro<> {
    Future<int> inner = asyncio::get_running_loop().create_future<int>();
    Future<int> outer = asyncio::shield(inner);
    co_await run_briefly();
    inner.cancel();
    co_await run_briefly();
    EXPECT_TRUE(outer.cancelled());
  });
}

TEST(Shield, CancelOuter) {
  run_main([&]() -> Coro<> {
    Future<int> inner = asyncio::get_running_loop().create_future<int>();
    Future<int> outer = asyncio::shield(inner);
    co_await run_briefly();
    EXPECT_TRUE(outer.cancel());
    co_await run_briefly();
    EXPECT_TRUE(outer.cancelled());
    EXPECT_FALSE(inner.done());
    EXPECT_FALSE(inner.cancelled());
    inner.set_result(1);  // the outer future does not care any more
    co_await run_briefly();
    EXPECT_TRUE(outer.cancelled());
    EXPECT_EQ(inner.result(), 1);
  });
}

TEST(Shield, Shortcut) {
  run_main([&]() -> Coro<> {
    Future<int> fut = asyncio::get_running_loop().create_future<int>();
    fut.set_result(42);
    Future<int> outer = asyncio::shield(fut);
    EXPECT_TRUE(outer.done());
    EXPECT_EQ(co_await outer, 42);
  });
}

// test_shield_effect: cancelling the task that awaits the shield does not reach the inner
// coroutine, which goes on to completion.
TEST(Shield, Effect) {
  int proof = 0;
  run_main([&]() -> Coro<> {
    Future<void> waiter = asyncio::get_running_loop().create_future<void>();
    auto inner = [&]() -> Coro<> {
      co_await waiter;
      proof += 1;
    };
    auto outer = [&]() -> Coro<> {
      co_await asyncio::shield(inner());
      proof += 100;
    };
    Task<void> f = asyncio::create_task(outer());
    co_await run_briefly();
    f.cancel();
    std::exception_ptr err = co_await error_of(f);
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
    EXPECT_TRUE(f.cancelled());
    waiter.set_result();
    co_await run_briefly();
    EXPECT_EQ(proof, 1);
  });
}

// test_shield_gather: cancelling the shield of a gather leaves the gather running.
TEST(Shield, ShieldGather) {
  run_main([&]() -> Coro<> {
    auto& loop = asyncio::get_running_loop();
    Future<int> child1 = loop.create_future<int>(), child2 = loop.create_future<int>();
    auto parent = asyncio::gather(child1, child2);
    auto outer = asyncio::shield(parent);
    co_await run_briefly();
    outer.cancel();
    co_await run_briefly();
    EXPECT_TRUE(outer.cancelled());
    child1.set_result(1);
    child2.set_result(2);
    co_await run_briefly();
    EXPECT_TRUE(parent.done());
    EXPECT_EQ(parent.result(), std::make_tuple(1, 2));
  });
}

// test_gather_shield: cancelling a gather of shields cancels the shields, not the children.
TEST(Shield, GatherShield) {
  run_main([&]() -> Coro<> {
    auto& loop = asyncio::get_running_loop();
    Future<int> child1 = loop.create_future<int>(), child2 = loop.create_future<int>();
    Future<int> inner1 = asyncio::shield(child1);
    Future<int> inner2 = asyncio::shield(child2);
    auto parent = asyncio::gather(inner1, inner2);
    co_await run_briefly();
    parent.cancel();
    co_await run_briefly();
    EXPECT_TRUE(parent.done());
    EXPECT_TRUE(holds<CancelledError>(parent.exception()));
    EXPECT_TRUE(inner1.cancelled());
    EXPECT_TRUE(inner2.cancelled());
    EXPECT_FALSE(child1.done());
    EXPECT_FALSE(child2.done());
    child1.set_result(1);
    child2.set_result(2);
    co_await run_briefly();
  });
}

// ---- Through a task awaiting the shield ------------------------------------------------------

// The awaiting task is cancelled; the inner task completes normally and keeps its result.
TEST(Shield, OuterCancelledInnerCompletes) {
  run_main([&]() -> Coro<> {
    Future<void> gate = asyncio::get_running_loop().create_future<void>();
    bool inner_finished = false;
    auto work = [&]() -> Coro<std::string> {
      co_await gate;
      inner_finished = true;
      co_return "result";
    };
    Task<std::string> inner = asyncio::create_task(work());
    auto awaiting = [&]() -> Coro<std::string> { co_return co_await asyncio::shield(inner); };
    Task<std::string> t = asyncio::create_task(awaiting());
    co_await asyncio::sleep(1ms);
    t.cancel();
    std::exception_ptr err = co_await error_of(t);
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
    EXPECT_FALSE(inner.done());
    EXPECT_FALSE(inner.cancelled());
    EXPECT_EQ(inner.cancelling(), 0);
    gate.set_result();
    EXPECT_EQ(co_await inner, "result");
    EXPECT_TRUE(inner_finished);
  });
}

// The inner task is cancelled by someone else: the awaiting task gets CancelledError although
// nobody cancelled it (its cancelling() stays 0).
TEST(Shield, InnerCancelledCancelsOuter) {
  run_main([&]() -> Coro<> {
    Task<int> inner = asyncio::create_task([]() -> Coro<int> {
      co_await asyncio::sleep(10s);
      co_return 1;
    }());
    auto awaiting = [&]() -> Coro<int> { co_return co_await asyncio::shield(inner); };
    Task<int> t = asyncio::create_task(awaiting());
    co_await asyncio::sleep(0s);
    inner.cancel("inner stop");
    std::exception_ptr err = co_await error_of(t);
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
    EXPECT_TRUE(t.cancelled());
    EXPECT_EQ(t.cancelling(), 0);
    EXPECT_TRUE(inner.cancelled());
  });
}

TEST(Shield, InnerExceptionReachesTheAwaitingTask) {
  run_main([&]() -> Coro<> {
    auto failing = []() -> Coro<int> {
      co_await asyncio::sleep(1ms);
      throw BoomError();
    };
    std::exception_ptr err = co_await error_of(asyncio::shield(failing()));
    EXPECT_TRUE(holds<BoomError>(err)) << what_of(err);

    Task<int> t = asyncio::create_task(failing());
    err = co_await error_of(asyncio::shield(t));
    EXPECT_TRUE(holds<BoomError>(err)) << what_of(err);
    EXPECT_TRUE(holds<BoomError>(t.exception()));
  });
}

TEST(Shield, CoroutineResult) {
  run_main([&]() -> Coro<> {
    auto coro = []() -> Coro<std::unique_ptr<int>> {
      co_await asyncio::sleep(0s);
      co_return std::make_unique<int>(7);
    };
    std::unique_ptr<int> p = co_await asyncio::shield(coro());  // moved out, not copied
    EXPECT_TRUE(p && *p == 7);
    auto void_coro = []() -> Coro<> { co_await asyncio::sleep(0s); };
    co_await asyncio::shield(void_coro());
  });
}

// Shielding a task copies its result: the task still has it afterwards.
TEST(Shield, TaskKeepsItsResult) {
  run_main([&]() -> Coro<> {
    Task<std::string> t = asyncio::create_task([]() -> Coro<std::string> {
      co_await asyncio::sleep(0s);
      co_return std::string(50, 'r');
    }());
    EXPECT_EQ(co_await asyncio::shield(t), std::string(50, 'r'));
    EXPECT_EQ(t.result(), std::string(50, 'r'));
    EXPECT_EQ(co_await asyncio::shield(t), std::string(50, 'r'));  // done: the shortcut
  });
}

// Two shields of one task: cancelling one leaves the other and the task alone.
TEST(Shield, TwoShieldsOfOneTask) {
  run_main([&]() -> Coro<> {
    Task<int> t = asyncio::create_task([]() -> Coro<int> {
      co_await asyncio::sleep(10ms);
      co_return 5;
    }());
    Future<int> s1 = asyncio::shield(t), s2 = asyncio::shield(t);
    s1.cancel();
    EXPECT_EQ(co_await s2, 5);
    EXPECT_TRUE(s1.cancelled());
    EXPECT_EQ(t.result(), 5);
  });
}

// The task awaiting a shield is cancelled several times, each time re-shielding the work.
TEST(Shield, RepeatedCancellationOfTheAwaitingTask) {
  run_main([&]() -> Coro<> {
    Future<int> gate = asyncio::get_running_loop().create_future<int>();
    Task<int> work =
        asyncio::create_task([](Future<int> g) -> Coro<int> { co_return co_await g; }(gate));
    auto stubborn = [&]() -> Coro<int> {
      int cancels = 0;
      while (true) {
        try {
          co_return co_await asyncio::shield(work) + cancels * 100;
        } catch (const CancelledError&) {
          ++cancels;
        }
      }
    };
    Task<int> t = asyncio::create_task(stubborn());
    for (int i = 0; i < 3; ++i) {
      co_await asyncio::sleep(0s);
      EXPECT_TRUE(t.cancel());
    }
    co_await asyncio::sleep(0s);
    gate.set_result(9);
    EXPECT_EQ(co_await t, 309);
    EXPECT_FALSE(work.cancelled());
    EXPECT_EQ(t.cancelling(), 3);
  });
}

// shield() inside timeout(): the timeout expires, the shielded work does not notice.
TEST(Shield, UnderTimeout) {
  run_main([&]() -> Coro<> {
    Future<int> gate = asyncio::get_running_loop().create_future<int>();
    Task<int> work =
        asyncio::create_task([](Future<int> g) -> Coro<int> { co_return co_await g; }(gate));
    std::exception_ptr err = co_await error_of(
        asyncio::timeout(5ms, [&]() -> Coro<int> { co_return co_await asyncio::shield(work); }));
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_FALSE(work.done());
    gate.set_result(3);
    EXPECT_EQ(co_await work, 3);
  });
}

// The outer future is cancelled and the inner one fails in the same iteration: the inner
// exception is marked retrieved (Python's _inner_done_callback), so nothing is reported as
// "exception was never retrieved" (run_main fails the test on any such report).
TEST(Shield, InnerFailsWhileOuterIsCancelledMarksRetrieved) {
  run_main([&]() -> Coro<> {
    auto& loop = asyncio::get_running_loop();
    {
      Future<int> inner = loop.create_future<int>();
      Future<int> outer = asyncio::shield(inner);
      outer.cancel();
      inner.set_exception(BoomError());
      co_await run_briefly();
      EXPECT_TRUE(outer.cancelled());
    }
    {
      Future<int> inner = loop.create_future<int>();
      Future<int> outer = asyncio::shield(inner);
      inner.set_exception(BoomError());
      outer.cancel();
      co_await run_briefly();
      EXPECT_TRUE(outer.cancelled());
    }
    co_await run_briefly();
  });
}

// ---- The loop closes while a task waits here -------------------------------------------------

TEST(Shield, LoopClosedWhileWaiting) {
  auto reports = close_loop_while_pending([&](asyncio::EventLoop& loop) {
    Task<int> inner = loop.create_task([]() -> Coro<int> {
      co_await asyncio::sleep(10s);
      co_return 1;
    }());
    Task<int> awaiting = loop.create_task(
        [](Task<int> in) -> Coro<int> { co_return co_await asyncio::shield(in); }(inner));
    loop.run_until_complete([]() -> Coro<> { co_await asyncio::sleep(5ms); }());
  });
  EXPECT_EQ(count_of(reports, "Task was destroyed but it is pending!"), 2u);
}

// A task awaiting the shield of a future that never completes, abandoned by a raw
// loop.close(): the outer and inner futures must not keep each other alive (the ASan build's
// leak check catches such a cycle).
TEST(Shield, LoopClosedWhileShieldingAPlainFuture) {
  auto reports = close_loop_while_pending([&](asyncio::EventLoop& loop) {
    Future<int> never = loop.create_future<int>();
    Task<int> awaiting = loop.create_task(
        [](Future<int> f) -> Coro<int> { co_return co_await asyncio::shield(f); }(never));
    loop.run_until_complete([]() -> Coro<> { co_await asyncio::sleep(0s); }());
  });
  EXPECT_EQ(count_of(reports, "Task was destroyed but it is pending!"), 1u);
}

// A shield nobody awaits, of a future nobody completes, both dropped: no leak either.
TEST(Shield, DroppedPendingShieldIsFreed) {
  run_main([&]() -> Coro<> {
    {
      Future<std::string> inner = asyncio::get_running_loop().create_future<std::string>();
      Future<std::string> outer = asyncio::shield(inner);
      EXPECT_FALSE(outer.done());
    }
    co_await run_briefly();
  });
}

// Holding only the outer future: the inner one still completes it (through a callback that
// owns the inner future).
TEST(Shield, InnerHeldOnlyByItsProducer) {
  run_main([&]() -> Coro<> {
    auto& loop = asyncio::get_running_loop();
    Future<int> outer;
    {
      Future<int> inner = loop.create_future<int>();
      outer = asyncio::shield(inner);
      loop.call_later(1ms, [inner] { inner.set_result(8); });
    }
    EXPECT_EQ(co_await outer, 8);
  });
}

// test_shield_coroutine_without_loop: a coroutine needs a running loop to become a task.
TEST(Shield, CoroutineWithoutLoop) {
  auto coro = []() -> Coro<int> { co_return 42; };
  EXPECT_THROW((void)asyncio::shield(coro()), asyncio::RuntimeError);
}

}  // namespace
