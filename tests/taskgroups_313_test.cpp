// TaskGroup's later-version semantics (docs/python-mapping.md): Python 3.13's fix for a
// cancellation from outside colliding with the group's own (gh-116720), and Python 3.15's
// TaskGroup.cancel(). The expected outputs come from CPython 3.12 running the 3.13 / 3.15
// taskgroups.py logic (a TaskGroup subclass with the new __aexit__ and cancel(), and a task
// factory whose uncancel() resets the pending cancel as 3.13's does); the first test's
// "cancelled" line is exactly where 3.12 differs ("NOT cancelled").
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "asyncio/asyncio.hpp"

using namespace std::chrono_literals;

namespace {

using asyncio::CancelledError;
using asyncio::Coro;
using asyncio::ExceptionGroup;
using asyncio::TaskGroup;

Coro<> nap(asyncio::Duration d) {
  co_await asyncio::sleep(d);
}

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  }
}

// gh-116720: the outer group cancels the task (a sibling failed) while the inner group's
// child fails during its abort. The inner group raises its ExceptionGroup, which replaces the
// outer CancelledError; 3.13 re-cancels the task so the outer request is not lost: the next
// await is cancelled (3.12: it is not, and the task sleeps on).
TEST(TaskGroup313Test, OutsideCancellationSurvivesInnerExceptionGroup) {
  std::vector<std::string> log;
  asyncio::run([&]() -> Coro<> {
    auto me = asyncio::current_task();
    try {
      co_await asyncio::task_group([&](TaskGroup& outer) -> Coro<> {
        outer.create_task([]() -> Coro<> {
          co_await asyncio::sleep(10ms);
          throw asyncio::RuntimeError("outer");
        }());
        bool caught = false;
        try {
          co_await asyncio::task_group([&](TaskGroup& inner) -> Coro<> {
            inner.create_task([]() -> Coro<> {
              try {
                co_await asyncio::sleep(1s);
              } catch (const CancelledError&) {
              }
              throw asyncio::ValueError("inner");
            }());
            co_await asyncio::sleep(1s);
          });
        } catch (const ExceptionGroup& eg) {
          caught = true;
          log.push_back("caught inner " + what_of(eg.exceptions().at(0)) +
                        " cancelling=" + std::to_string(me.cancelling()));
        }
        EXPECT_TRUE(caught);
        try {
          co_await asyncio::sleep(100ms);
          log.push_back("sleep after inner NOT cancelled");
        } catch (const CancelledError&) {
          log.push_back("sleep after inner cancelled");
          throw;
        }
      });
    } catch (const ExceptionGroup& eg) {
      log.push_back("outer EG " + what_of(eg.exceptions().at(0)) +
                    " cancelling=" + std::to_string(me.cancelling()));
    }
  }());
  EXPECT_EQ(log, (std::vector<std::string>{"caught inner inner cancelling=1",
                                           "sleep after inner cancelled",
                                           "outer EG outer cancelling=0"}));
}

// Cancelled from outside while a child fails during the abort: the ExceptionGroup wins and
// the outside request is still counted (cancelling() == 1), as 3.12 and 3.13 agree.
TEST(TaskGroup313Test, OutsideCancelWithChildErrorKeepsCount) {
  asyncio::run([]() -> Coro<> {
    auto t = asyncio::create_task(asyncio::task_group([](TaskGroup& tg) -> Coro<> {
      tg.create_task([]() -> Coro<> {
        try {
          co_await asyncio::sleep(1s);
        } catch (const CancelledError&) {
        }
        throw asyncio::ValueError("child");
      }());
      co_await asyncio::sleep(1s);
    }));
    co_await asyncio::sleep(10ms);
    t.cancel();
    bool group = false;
    try {
      co_await t;
    } catch (const ExceptionGroup&) {
      group = true;
    }
    EXPECT_TRUE(group);
    EXPECT_FALSE(t.cancelled());
    EXPECT_EQ(t.cancelling(), 1);
  }());
}

// Python 3.15 TaskGroup.cancel() from the body: the children and the body are cancelled, and
// the scope ends without CancelledError; the task's next await is not cancelled.
TEST(TaskGroup313Test, CancelFromBodyEndsScopeQuietly) {
  std::vector<std::string> log;
  asyncio::run([&]() -> Coro<> {
    auto me = asyncio::current_task();
    asyncio::Task<> child;
    co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<> {
      child = tg.create_task(nap(1s));
      co_await asyncio::sleep(0s);
      tg.cancel();
      try {
        co_await asyncio::sleep(1s);
      } catch (const CancelledError&) {
        log.push_back("body got CancelledError");
        throw;
      }
    });
    log.push_back(std::string("after group ") + (child.cancelled() ? "True " : "False ") +
                  std::to_string(me.cancelling()));
    co_await asyncio::sleep(0s);
    log.push_back("next await fine");
  }());
  EXPECT_EQ(log, (std::vector<std::string>{"body got CancelledError", "after group True 0",
                                           "next await fine"}));
}

// cancel() before entering: the group is cancelled as it enters (create_task then says
// "shutting down"); cancel() after the group finished is a no-op.
TEST(TaskGroup313Test, CancelBeforeEnterAndAfterExit) {
  std::vector<std::string> log;
  asyncio::run([&]() -> Coro<> {
    auto me = asyncio::current_task();
    TaskGroup tg;
    tg.cancel();
    tg.enter();
    std::exception_ptr body_error;
    try {
      try {
        tg.create_task(nap(1s));
      } catch (const asyncio::RuntimeError& e) {
        log.push_back(std::string("create_task ") + e.what());
      }
      co_await asyncio::sleep(1s);
    } catch (const CancelledError&) {
      log.push_back("body got CancelledError");
      body_error = std::current_exception();
    }
    co_await tg.exit(body_error);  // no exception: suppressed
    log.push_back("after " + std::to_string(me.cancelling()));
    tg.cancel();
    co_await asyncio::sleep(0s);
    log.push_back("next await fine");
  }());
  EXPECT_EQ(log,
            (std::vector<std::string>{"create_task TaskGroup is shutting down",
                                      "body got CancelledError", "after 0", "next await fine"}));
}

// cancel() and a body that returns without awaiting, no children: the pending cancel request
// is withdrawn too (3.13's uncancel() semantics), so the next await is not cancelled.
TEST(TaskGroup313Test, CancelWithoutAwaitLeavesNoPendingCancel) {
  std::vector<std::string> log;
  asyncio::run([&]() -> Coro<> {
    auto me = asyncio::current_task();
    co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<> {
      tg.cancel();
      co_return;
    });
    log.push_back("after " + std::to_string(me.cancelling()));
    co_await asyncio::sleep(0s);
    log.push_back("next await fine");
  }());
  EXPECT_EQ(log, (std::vector<std::string>{"after 0", "next await fine"}));
}

// cancel() from a child: the other child is cancelled and the group ends quietly; a body that
// returns a value gives a value-initialized one. (Coroutine functions, not capturing lambdas:
// a temporary lambda's captures die before its coroutine runs.)
Coro<> cancel_group_soon(TaskGroup& tg) {
  co_await asyncio::sleep(10ms);
  tg.cancel();
}

Coro<> log_cancellation(std::vector<std::string>& log) {
  try {
    co_await asyncio::sleep(1s);
  } catch (const CancelledError&) {
    log.push_back("other cancelled");
    throw;
  }
}

TEST(TaskGroup313Test, CancelFromChild) {
  std::vector<std::string> log;
  asyncio::run([&]() -> Coro<> {
    auto me = asyncio::current_task();
    int v = co_await asyncio::task_group([&](TaskGroup& tg) -> Coro<int> {
      tg.create_task(cancel_group_soon(tg));
      tg.create_task(log_cancellation(log));
      co_await asyncio::sleep(1s);
      co_return 7;
    });
    log.push_back("value " + std::to_string(v) + " cancelling " + std::to_string(me.cancelling()));
  }());
  EXPECT_EQ(log, (std::vector<std::string>{"other cancelled", "value 0 cancelling 0"}));
}

}  // namespace
