// Tests of asyncio::run, Runner and loop teardown (Python: test_asyncio/test_runners.py).

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/events.hpp"
#include "asyncio/futures.hpp"
#include "asyncio/gather.hpp"
#include "asyncio/runners.hpp"
#include "asyncio/tasks.hpp"
#include "core_helpers.hpp"

using namespace std::chrono_literals;
using asyncio::AnyTask;
using asyncio::CancelledError;
using asyncio::Coro;
using asyncio::EventLoop;
using asyncio::Runner;
using asyncio::Task;

namespace {

using coretest::HandlerLog;
using coretest::run_once;

Coro<int> answer() {
  co_return 42;
}

Coro<> sleep_long() {
  co_await asyncio::sleep(60s);
}

}  // namespace

// ---- asyncio::run ----------------------------------------------------------------------------

TEST(RunTest, ReturnsTheValue) {
  auto main = []() -> Coro<int> {
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(1ms);
    co_return 7;
  };
  EXPECT_EQ(asyncio::run(main()), 7);
  EXPECT_EQ(asyncio::run(answer()), 42);
}

TEST(RunTest, VoidAndMoveOnly) {
  bool ran = false;
  auto v = [&]() -> Coro<> {
    ran = true;
    co_return;
  };
  asyncio::run(v());
  EXPECT_TRUE(ran);
  auto m = []() -> Coro<std::unique_ptr<int>> { co_return std::make_unique<int>(4); };
  std::unique_ptr<int> p = asyncio::run(m());
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, 4);
}

TEST(RunTest, RethrowsTheException) {
  auto main = []() -> Coro<int> {
    co_await asyncio::sleep(0s);
    throw std::domain_error("main failed");
  };
  try {
    asyncio::run(main());
    ADD_FAILURE() << "no exception";
  } catch (const std::domain_error& e) {
    EXPECT_STREQ(e.what(), "main failed");
  }
}

TEST(RunTest, MainTaskCancellingItselfRaisesCancelledError) {
  auto main = []() -> Coro<int> {
    asyncio::current_task().cancel("main cancelled");
    co_await asyncio::sleep(0s);
    co_return 1;
  };
  try {
    asyncio::run(main());
    ADD_FAILURE() << "no exception";
  } catch (const CancelledError& e) {
    EXPECT_EQ(e.message(), "main cancelled");
  }
}

TEST(RunTest, RunsInANewLoopEachTime) {
  EventLoop* first = nullptr;
  EventLoop* second = nullptr;
  auto grab = [](EventLoop*& out) -> Coro<> {
    out = &asyncio::get_running_loop();
    co_return;
  };
  asyncio::run(grab(first));
  EXPECT_THROW(asyncio::get_running_loop(), asyncio::RuntimeError);  // nothing left running
  asyncio::run(grab(second));
  EXPECT_NE(first, nullptr);
  EXPECT_NE(second, nullptr);
}

TEST(RunTest, DebugFlag) {
  auto debug_of = []() -> Coro<bool> { co_return asyncio::get_running_loop().get_debug(); };
  EXPECT_TRUE(asyncio::run(debug_of(), true));
  EXPECT_FALSE(asyncio::run(debug_of(), false));
  EXPECT_FALSE(asyncio::run(debug_of()));
}

TEST(RunTest, RunInsideARunningLoopRaises) {
  bool inner_ran = false;
  auto inner = [&]() -> Coro<int> {
    inner_ran = true;
    co_return 1;
  };
  auto main = [&]() -> Coro<std::string> {
    try {
      asyncio::run(inner());
    } catch (const asyncio::RuntimeError& e) {
      co_return e.what();
    }
    co_return "no error";
  };
  EXPECT_EQ(asyncio::run(main()), "asyncio::run() cannot be called from a running event loop");
  EXPECT_FALSE(inner_ran);
}

TEST(RunTest, LeftoverTasksAreCancelledAndTheirCleanupRuns) {
  std::vector<std::string> log;
  auto leftover = [&](std::string name) -> Coro<> {
    bool cancelled = false;
    try {
      co_await asyncio::sleep(60s);
    } catch (const CancelledError&) {
      cancelled = true;
      log.push_back(name + " cancelled");
    }
    if (cancelled) {
      // Cleanup that itself awaits (C++ cannot co_await inside a handler, so after it).
      co_await asyncio::sleep(1ms);
      co_await asyncio::sleep(0s);
      log.push_back(name + " cleaned up");
      throw CancelledError();  // re-raise, as cleanup code should
    }
  };
  Task<> kept;
  auto main = [&]() -> Coro<int> {
    kept = asyncio::create_task(leftover("a"));
    asyncio::create_task(leftover("b"));  // fire and forget
    co_await asyncio::sleep(0s);
    co_return 3;
  };
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(asyncio::run(main()), 3);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);  // did not wait for the sleeps
  std::sort(log.begin(), log.end());
  EXPECT_EQ(log, (std::vector<std::string>{"a cancelled", "a cleaned up", "b cancelled",
                                           "b cleaned up"}));
  EXPECT_TRUE(kept.done());
  EXPECT_TRUE(kept.cancelled());
}

TEST(RunTest, TaskCreatedJustBeforeMainReturnsStillStarts) {
  // Python too: its first step is queued before the main task's done callback stops the loop.
  std::vector<std::string> log;
  auto late = [&]() -> Coro<> {
    log.push_back("started");
    try {
      co_await asyncio::sleep(60s);
    } catch (const CancelledError&) {
      log.push_back("cancelled");
      throw;
    }
  };
  Task<> t;
  auto main = [&]() -> Coro<> {
    t = asyncio::create_task(late());
    co_return;
  };
  asyncio::run(main());
  EXPECT_EQ(log, (std::vector<std::string>{"started", "cancelled"}));
  EXPECT_TRUE(t.cancelled());
}

TEST(RunTest, LeftoverTaskNotYetStartedNeverRuns) {
  // Created by a done callback of the main task, which runs in the loop's last iteration:
  // at shutdown it is cancelled before its first step, so its body never runs.
  bool body_ran = false;
  auto late = [&]() -> Coro<> {
    body_ran = true;
    co_return;
  };
  Task<> t;
  auto main = [&]() -> Coro<> {
    asyncio::current_task().add_done_callback([&](AnyTask&) { t = asyncio::create_task(late()); });
    co_return;
  };
  asyncio::run(main());
  ASSERT_TRUE(t.valid());
  EXPECT_FALSE(body_ran);
  EXPECT_TRUE(t.cancelled());
}

TEST(RunTest, LeftoverThatRaisesDuringShutdownIsReported) {
  HandlerLog handler;
  auto stubborn = []() -> Coro<> {
    bool cancelled = false;
    try {
      co_await asyncio::sleep(60s);
    } catch (const CancelledError&) {
      cancelled = true;
    }
    if (cancelled) {
      co_await asyncio::sleep(0s);
      throw std::runtime_error("failed while cancelling");
    }
  };
  auto swallower = []() -> Coro<int> {
    try {
      co_await asyncio::sleep(60s);
    } catch (const CancelledError&) {
    }
    co_return 1;  // swallowed: finishes normally, nothing to report
  };
  auto main = [&]() -> Coro<> {
    handler.install(asyncio::get_running_loop());
    asyncio::create_task(stubborn(), "stubborn");
    asyncio::create_task(swallower(), "swallower");
    co_await asyncio::sleep(0s);
  };
  asyncio::run(main());
  ASSERT_EQ(handler.count("unhandled exception during asyncio.run() shutdown"), 1u);
  for (const auto& c : handler.contexts) {
    if (c.message != "unhandled exception during asyncio.run() shutdown") continue;
    EXPECT_EQ(asyncio::describe(c.exception), "failed while cancelling");
    EXPECT_NE(c.task.find("stubborn"), std::string::npos) << c.task;
  }
  // The shutdown retrieved the exception: no "never retrieved" report on top.
  EXPECT_EQ(handler.count("Task exception was never retrieved"), 0u);
  EXPECT_EQ(handler.count("Task was destroyed but it is pending!"), 0u);
}

TEST(RunTest, LeftoverAwaitingAnotherLeftover) {
  bool inner_cancelled = false;
  auto inner = [&]() -> Coro<int> {
    try {
      co_await asyncio::sleep(60s);
    } catch (const CancelledError&) {
      inner_cancelled = true;
      throw;
    }
    co_return 0;
  };
  auto outer = [&](Task<int> t) -> Coro<int> { co_return co_await t; };
  Task<int> i, o;
  auto main = [&]() -> Coro<> {
    i = asyncio::create_task(inner());
    o = asyncio::create_task(outer(i));
    co_await asyncio::sleep(0s);
  };
  asyncio::run(main());
  EXPECT_TRUE(inner_cancelled);
  EXPECT_TRUE(i.cancelled());
  EXPECT_TRUE(o.cancelled());
}

// ---- Runner ----------------------------------------------------------------------------------

TEST(RunnerTest, RunsSeveralCoroutinesOnOneLoop) {
  Runner runner;
  EventLoop& loop = runner.get_loop();
  EXPECT_EQ(&runner.get_loop(), &loop);
  int ticks = 0;
  auto ticker = [&]() -> Coro<> {
    for (;;) {
      co_await asyncio::sleep(0s);
      ++ticks;
    }
  };
  auto first = [&]() -> Coro<EventLoop*> {
    asyncio::create_task(ticker(), "ticker");
    co_await asyncio::sleep(0s);
    co_return &asyncio::get_running_loop();
  };
  auto second = [&]() -> Coro<EventLoop*> {
    int before = ticks;
    for (int k = 0; k < 3; ++k) co_await asyncio::sleep(0s);
    EXPECT_GT(ticks, before);  // the task from the first run() still runs in the second
    co_return &asyncio::get_running_loop();
  };
  EXPECT_EQ(runner.run(first()), &loop);
  EXPECT_FALSE(loop.is_running());
  EXPECT_EQ(runner.run(second()), &loop);
  EXPECT_EQ(runner.run(answer()), 42);
  EXPECT_EQ(asyncio::all_tasks(loop).size(), 1u);  // the ticker, still pending
  runner.close();                                  // cancels it
  EXPECT_THROW(runner.get_loop(), asyncio::RuntimeError);
}

TEST(RunnerTest, RethrowsAndStaysUsable) {
  Runner runner;
  auto bad = []() -> Coro<int> {
    throw std::runtime_error("bad run");
    co_return 0;
  };
  EXPECT_THROW(runner.run(bad()), std::runtime_error);
  EXPECT_EQ(runner.run(answer()), 42);
}

TEST(RunnerTest, RunAfterCloseRaises) {
  Runner runner;
  EXPECT_EQ(runner.run(answer()), 42);
  runner.close();
  runner.close();  // idempotent
  try {
    runner.run(answer());
    ADD_FAILURE() << "no exception";
  } catch (const asyncio::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "Runner is closed");
  }
  EXPECT_THROW(runner.get_loop(), asyncio::RuntimeError);
}

TEST(RunnerTest, CloseBeforeUseClosesForGood) {
  Runner runner;
  runner.close();  // nothing to close yet (Python: a no-op in the CREATED state)
  EXPECT_EQ(runner.run(answer()), 42);
  runner.close();
  EXPECT_THROW(runner.run(answer()), asyncio::RuntimeError);
}

TEST(RunnerTest, DebugOption) {
  Runner on(true);
  EXPECT_TRUE(on.get_loop().get_debug());
  Runner off(false);
  EXPECT_FALSE(off.get_loop().get_debug());
}

TEST(RunnerTest, RunFromInsideItsLoopRaises) {
  Runner runner;
  auto main = [&]() -> Coro<std::string> {
    try {
      runner.run(answer());
    } catch (const asyncio::RuntimeError& e) {
      co_return e.what();
    }
    co_return "no error";
  };
  EXPECT_EQ(runner.run(main()), "Runner.run() cannot be called from a running event loop");
}

TEST(RunnerTest, CloseFromInsideItsLoopRaises) {
  Runner runner;
  Task<> bystander;
  auto main = [&]() -> Coro<std::string> {
    bystander = asyncio::create_task(sleep_long());
    co_await asyncio::sleep(0s);
    try {
      runner.close();
    } catch (const asyncio::RuntimeError& e) {
      co_return e.what();
    }
    co_return "no error";
  };
  EXPECT_EQ(runner.run(main()), "Cannot close a running event loop");
  EXPECT_FALSE(bystander.done());  // nothing was cancelled by the failed close()
  runner.close();
  EXPECT_TRUE(bystander.cancelled());
}

TEST(RunnerTest, DestructorCancelsLeftovers) {
  bool cleaned = false;
  auto leftover = [&]() -> Coro<> {
    try {
      co_await asyncio::sleep(60s);
    } catch (const CancelledError&) {
      cleaned = true;
      throw;
    }
  };
  {
    Runner runner;
    auto main = [&]() -> Coro<> {
      asyncio::create_task(leftover());
      co_await asyncio::sleep(0s);
    };
    runner.run(main());
    EXPECT_FALSE(cleaned);
  }
  EXPECT_TRUE(cleaned);
}

// ---- EventLoop::close with pending tasks -------------------------------------------------

TEST(LoopTeardownTest, CloseReportsAndFreesPendingTasks) {
  auto payload = std::make_shared<int>(0);
  HandlerLog handler;
  {
    EventLoop loop;
    handler.install(loop);
    auto sleeper = [](std::shared_ptr<int> p) -> Coro<int> {
      co_await asyncio::sleep(60s);
      co_return *p;
    };
    Task<int> kept = loop.create_task(sleeper(payload), "kept");
    loop.create_task(sleeper(payload), "dropped");
    run_once(loop);
    EXPECT_EQ(payload.use_count(), 3);
    loop.close();
    EXPECT_EQ(handler.count("Task was destroyed but it is pending!"), 2u);
    EXPECT_EQ(payload.use_count(), 1);  // both coroutine frames are gone
    EXPECT_FALSE(kept.done());          // a destroyed task never completes
    bool named = false;
    for (const auto& c : handler.contexts) named |= c.task.find("kept") != std::string::npos;
    EXPECT_TRUE(named);
  }
  EXPECT_EQ(payload.use_count(), 1);
}

TEST(LoopTeardownTest, CloseWithTasksWaitingOnEachOtherAndOnFutures) {
  // Everything is freed (checked by ASan/LSan in the sanitizer build).
  auto payload = std::make_shared<int>(0);
  HandlerLog handler;
  {
    EventLoop loop;
    handler.install(loop);
    asyncio::Future<int> f = loop.create_future<int>();
    auto on_future = [](asyncio::Future<int> fut, std::shared_ptr<int>) -> Coro<int> {
      co_return co_await fut;
    };
    auto on_task = [](Task<int> t, std::shared_ptr<int>) -> Coro<int> { co_return co_await t; };
    auto gatherer = [](Task<int> a, Task<int> b, std::shared_ptr<int>) -> Coro<int> {
      auto [x, y] = co_await asyncio::gather(a, b);
      co_return x + y;
    };
    Task<int> a = loop.create_task(on_future(f, payload));
    Task<int> b = loop.create_task(on_task(a, payload));
    loop.create_task(gatherer(a, b, payload));
    loop.create_task(on_task(b, payload));
    f.add_done_callback([payload](asyncio::Future<int>&) {});
    run_once(loop);
    run_once(loop);
    loop.close();
    EXPECT_EQ(handler.count("Task was destroyed but it is pending!"), 4u);
  }
  EXPECT_EQ(payload.use_count(), 1);
}

TEST(LoopTeardownTest, CloseWithATaskThatNeverStarted) {
  auto payload = std::make_shared<int>(0);
  bool ran = false;
  {
    EventLoop loop;
    HandlerLog handler;
    handler.install(loop);
    auto body = [&ran](std::shared_ptr<int>) -> Coro<> {
      ran = true;
      co_return;
    };
    loop.create_task(body(payload));
    loop.close();
    EXPECT_EQ(handler.count("Task was destroyed but it is pending!"), 1u);
  }
  EXPECT_FALSE(ran);
  EXPECT_EQ(payload.use_count(), 1);
}

TEST(LoopTeardownTest, DefaultHandlerPrintsTaskDestroyedButPending) {
  testing::internal::CaptureStderr();
  {
    EventLoop loop;
    loop.create_task(sleep_long(), "doomed");
    run_once(loop);
  }  // the destructor closes the loop
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("Task was destroyed but it is pending!"), std::string::npos) << err;
  EXPECT_NE(err.find("doomed"), std::string::npos) << err;
}

TEST(LoopTeardownTest, FinishedTaskHandleMayOutliveItsLoop) {
  Task<int> t;
  {
    EventLoop loop;
    t = loop.create_task(answer());
    loop.run_until_complete(t);
  }
  EXPECT_TRUE(t.done());
  EXPECT_EQ(t.result(), 42);
}
