// Tests of timeout(), timeout_at() and Timeout (Python: test_asyncio/test_timeouts.py, plus
// the cases the C++ scope-function form needs: expired() in every state, reschedule() rules,
// nesting, a body that swallows the cancellation, and outside cancellations that must win over
// the timeout).
//
// Ordering relies on the loop's guarantees only: timers run in deadline order and sleep(0s)
// yields exactly one iteration. Wall-clock bounds, where checked at all, are generous upper
// bounds that only catch "the deadline was ignored", or lower bounds that timers guarantee
// (a timer never fires early).
#include <gtest/gtest.h>

#include <algorithm>
#include <exception>
#include <optional>
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
using asyncio::Timeout;
using asyncio::TimeoutError;

// Python's `async with cm: await body()` with a Timeout the test owns, so that its state can
// be inspected once the scope is over (timeout()'s own Timeout dies with the scope).
template <class F>
Coro<> with_scope(Timeout& cm, F body) {
  cm.enter();
  std::exception_ptr error;
  try {
    co_await body();
  } catch (...) {
    error = std::current_exception();
  }
  cm.exit(error);
  if (error) std::rethrow_exception(error);
}

// ---- test_timeouts.py -------------------------------------------------------------------------

TEST(Timeouts, TimeoutBasic) {
  std::exception_ptr err;
  bool saw_cancel = false, expired_in_body = false;
  int cancelling_after = -1;
  double elapsed = 0;
  run_main([&]() -> Coro<> {
    const double t0 = now();
    err = co_await error_of(asyncio::timeout(10ms, [&](Timeout& cm) -> Coro<> {
      try {
        co_await asyncio::sleep(10s);
      } catch (const CancelledError&) {
        saw_cancel = true;
        expired_in_body = cm.expired();
        throw;
      }
    }));
    elapsed = now() - t0;
    cancelling_after = asyncio::current_task().cancelling();
  });
  EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
  EXPECT_TRUE(saw_cancel);
  EXPECT_TRUE(expired_in_body);
  EXPECT_EQ(cancelling_after, 0);  // the timeout withdrew its own cancellation
  EXPECT_LT(elapsed, 5.0);
}

TEST(Timeouts, TimeoutBasicWithOwnTimeoutObject) {
  run_main([&]() -> Coro<> {
    Timeout cm(now() + 0.01);
    EXPECT_FALSE(cm.expired());
    std::exception_ptr err = co_await error_of(with_scope(cm, sleep_forever));
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_TRUE(cm.expired());
  });
}

TEST(Timeouts, TimeoutAtBasic) {
  run_main([&]() -> Coro<> {
    const double deadline = now() + 0.01;
    std::optional<double> when_in_body;
    std::exception_ptr err =
        co_await error_of(asyncio::timeout_at(deadline, [&](Timeout& cm) -> Coro<> {
          when_in_body = cm.when();
          co_await asyncio::sleep(10s);
        }));
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_EQ(when_in_body, std::optional<double>(deadline));

    const double deadline2 = now() + 0.01;
    Timeout cm(deadline2);
    err = co_await error_of(with_scope(cm, sleep_forever));
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_TRUE(cm.expired());
    EXPECT_EQ(cm.when(), std::optional<double>(deadline2));
  });
}

// test_nested_timeouts: both scopes share one deadline; only the outermost one turns the
// cancellation into TimeoutError, the inner one lets CancelledError through.
TEST(Timeouts, NestedTimeoutsSameDeadline) {
  run_main([&]() -> Coro<> {
    const double deadline = now() + 0.01;
    Timeout cm1(deadline), cm2(deadline);
    std::exception_ptr inner_err;
    bool cancelled_in_body = false;
    std::exception_ptr err = co_await error_of(with_scope(cm1, [&]() -> Coro<> {
      inner_err = co_await error_of(with_scope(cm2, [&]() -> Coro<> {
        try {
          co_await asyncio::sleep(10s);
        } catch (const CancelledError&) {
          cancelled_in_body = true;
          throw;
        }
      }));
      EXPECT_TRUE(cm1.expired());
      EXPECT_TRUE(cm2.expired());
      if (inner_err) std::rethrow_exception(inner_err);
    }));
    EXPECT_TRUE(cancelled_in_body);
    EXPECT_TRUE(holds<CancelledError>(inner_err)) << what_of(inner_err);
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_TRUE(cm1.expired());
    EXPECT_TRUE(cm2.expired());
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
  });
}

// The inner deadline passes, the outer one does not: the inner scope raises TimeoutError,
// which the outer body handles; the outer scope then finishes normally.
TEST(Timeouts, NestedInnerExpiresOuterDoesNot) {
  run_main([&]() -> Coro<> {
    Timeout outer(now() + 10), inner(now() + 0.01);
    std::exception_ptr inner_err;
    int after_inner = 0;
    std::exception_ptr err = co_await error_of(with_scope(outer, [&]() -> Coro<> {
      inner_err = co_await error_of(with_scope(inner, sleep_forever));
      // The task must not be left cancelled: these awaits complete normally.
      co_await asyncio::sleep(0s);
      co_await asyncio::sleep(1ms);
      after_inner = 1;
    }));
    EXPECT_EQ(err, nullptr) << what_of(err);
    EXPECT_TRUE(holds<TimeoutError>(inner_err)) << what_of(inner_err);
    EXPECT_EQ(after_inner, 1);
    EXPECT_TRUE(inner.expired());
    EXPECT_FALSE(outer.expired());
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
  });
}

// The outer deadline passes, the inner one does not: the inner scope must let the
// CancelledError through untouched (it is not its own), the outer one converts it.
TEST(Timeouts, NestedOuterExpiresInnerDoesNot) {
  run_main([&]() -> Coro<> {
    Timeout outer(now() + 0.01), inner(now() + 10);
    std::exception_ptr inner_err;
    std::exception_ptr err = co_await error_of(with_scope(outer, [&]() -> Coro<> {
      inner_err = co_await error_of(with_scope(inner, sleep_forever));
      if (inner_err) std::rethrow_exception(inner_err);
    }));
    EXPECT_TRUE(holds<CancelledError>(inner_err)) << what_of(inner_err);
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_FALSE(inner.expired());
    EXPECT_TRUE(outer.expired());
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
  });
}

// Both expire, one after the other: the inner TimeoutError is handled by the outer body,
// whose next await is then interrupted by the outer deadline.
TEST(Timeouts, NestedBothExpireInnerFirst) {
  run_main([&]() -> Coro<> {
    const double t0 = now();
    Timeout outer(t0 + 0.2), inner(t0 + 0.01);
    std::exception_ptr inner_err;
    bool outer_sleep_interrupted = false;
    std::exception_ptr err = co_await error_of(with_scope(outer, [&]() -> Coro<> {
      inner_err = co_await error_of(with_scope(inner, sleep_forever));
      try {
        co_await asyncio::sleep(10s);
      } catch (const CancelledError&) {
        outer_sleep_interrupted = true;
        throw;
      }
    }));
    EXPECT_TRUE(holds<TimeoutError>(inner_err)) << what_of(inner_err);
    EXPECT_TRUE(outer_sleep_interrupted);
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_TRUE(inner.expired());
    EXPECT_TRUE(outer.expired());
    EXPECT_LT(now() - t0, 5.0);
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
  });
}

// test_nested_timeouts_loop_busy: the loop is blocked past both deadlines, so both timeouts
// fire in the same iteration (inner first). The task gets one CancelledError but two
// cancellation requests: the inner scope sees a request that is not its own and lets the
// CancelledError through; the outer one raises TimeoutError.
TEST(Timeouts, NestedBothExpireInSameIteration) {
  run_main([&]() -> Coro<> {
    const double t0 = now();
    Timeout outer(t0 + 0.05), inner(t0 + 0.01);
    std::exception_ptr inner_err;
    std::exception_ptr err = co_await error_of(with_scope(outer, [&]() -> Coro<> {
      inner_err = co_await error_of(with_scope(inner, [&]() -> Coro<> {
        std::this_thread::sleep_for(100ms);  // pretend the loop is busy
        co_await asyncio::sleep(1s);
      }));
      if (inner_err) std::rethrow_exception(inner_err);
      co_await asyncio::sleep(10s);
    }));
    EXPECT_TRUE(holds<CancelledError>(inner_err)) << what_of(inner_err);
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_TRUE(inner.expired());
    EXPECT_TRUE(outer.expired());
    EXPECT_LT(now() - t0, 5.0);
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
  });
}

// test_nested_timeouts_concurrent: the outer deadline passes while the loop is busy, the inner
// one does not.
TEST(Timeouts, NestedTimeoutsConcurrent) {
  run_main([&]() -> Coro<> {
    std::exception_ptr inner_err;
    std::exception_ptr err = co_await error_of(asyncio::timeout(2ms, [&]() -> Coro<> {
      inner_err = co_await error_of(asyncio::timeout(10s, [&]() -> Coro<> {
        std::this_thread::sleep_for(20ms);  // pretend we crunch some numbers
        co_await asyncio::sleep(1s);
      }));
      if (inner_err) std::rethrow_exception(inner_err);
    }));
    EXPECT_TRUE(holds<CancelledError>(inner_err)) << what_of(inner_err);
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
  });
}

TEST(Timeouts, WaiterCancelled) {
  bool cancelled = false;
  std::exception_ptr err;
  run_main([&]() -> Coro<> {
    err = co_await error_of(asyncio::timeout(10ms, [&]() -> Coro<> {
      try {
        co_await asyncio::sleep(10s);
      } catch (const CancelledError&) {
        cancelled = true;
        throw;
      }
    }));
  });
  EXPECT_TRUE(cancelled);
  EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
}

TEST(Timeouts, TimeoutNotCalled) {
  run_main([&]() -> Coro<> {
    Timeout cm(now() + 10);
    std::exception_ptr err =
        co_await error_of(with_scope(cm, []() -> Coro<> { co_await asyncio::sleep(10ms); }));
    const double t1 = now();
    EXPECT_EQ(err, nullptr) << what_of(err);
    EXPECT_FALSE(cm.expired());
    EXPECT_GT(cm.when().value_or(0), t1);
  });
}

// After a scope exits before its deadline, the deadline must not cancel anything any more.
TEST(Timeouts, DeadlineDoesNotFireAfterScopeExit) {
  run_main([&]() -> Coro<> {
    int r = co_await asyncio::timeout(20ms, answer_after(1ms));
    EXPECT_EQ(r, 42);
    std::exception_ptr err = co_await sleep_error(100ms);  // spans the deadline
    EXPECT_EQ(err, nullptr) << what_of(err);
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
  });
}

TEST(Timeouts, TimeoutDisabled) {
  run_main([&]() -> Coro<> {
    bool ran = false;
    std::optional<double> when = 1.0;
    co_await asyncio::timeout(std::nullopt, [&](Timeout& cm) -> Coro<> {
      when = cm.when();
      co_await asyncio::sleep(10ms);
      EXPECT_FALSE(cm.expired());
      ran = true;
    });
    EXPECT_TRUE(ran);
    EXPECT_EQ(when, std::nullopt);

    Timeout cm(std::nullopt);
    co_await with_scope(cm, []() -> Coro<> { co_await asyncio::sleep(10ms); });
    EXPECT_FALSE(cm.expired());
    EXPECT_EQ(cm.when(), std::nullopt);
  });
}

TEST(Timeouts, TimeoutAtDisabled) {
  run_main([&]() -> Coro<> {
    int r = co_await asyncio::timeout_at(std::nullopt, answer_after(10ms));
    EXPECT_EQ(r, 42);
  });
}

TEST(Timeouts, TimeoutZero) {
  run_main([&]() -> Coro<> {
    const double t0 = now();
    std::optional<double> when;
    std::exception_ptr err = co_await error_of(asyncio::timeout(0s, [&](Timeout& cm) -> Coro<> {
      when = cm.when();
      co_await asyncio::sleep(10s);
    }));
    const double t1 = now();
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_TRUE(when.has_value());
    EXPECT_LE(t0, when.value_or(-1));
    EXPECT_LE(when.value_or(-1), t1);
    EXPECT_LT(t1 - t0, 5.0);
  });
}

// A deadline that has already passed fires on the next iteration, so even a bare sleep(0s)
// (which cannot be cancelled while it waits) ends with TimeoutError.
TEST(Timeouts, TimeoutZeroSleepZero) {
  run_main([&]() -> Coro<> {
    bool after_sleep = false;
    std::exception_ptr err = co_await error_of(asyncio::timeout(0s, [&]() -> Coro<> {
      co_await asyncio::sleep(0s);
      after_sleep = true;
    }));
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_FALSE(after_sleep);
  });
}

TEST(Timeouts, TimeoutInThePastSleepZero) {
  run_main([&]() -> Coro<> {
    const double t0 = now();
    std::optional<double> when;
    std::exception_ptr err = co_await error_of(asyncio::timeout(-11s, [&](Timeout& cm) -> Coro<> {
      when = cm.when();
      co_await asyncio::sleep(0s);
    }));
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_TRUE(when.has_value());
    EXPECT_LT(when.value_or(t0 + 1), t0);
  });
}

// A body that needs no suspension at all completes before the expired deadline can act.
TEST(Timeouts, TimeoutZeroWithoutSuspensionCompletes) {
  run_main([&]() -> Coro<> {
    auto immediate = []() -> Coro<int> { co_return 7; };
    int r = co_await asyncio::timeout(0s, immediate());
    EXPECT_EQ(r, 7);
    // The scope's deadline was cancelled at exit: nothing cancels the task later.
    std::exception_ptr err = co_await sleep_error(10ms);
    EXPECT_EQ(err, nullptr) << what_of(err);
  });
}

TEST(Timeouts, ForeignExceptionPassed) {
  run_main([&]() -> Coro<> {
    Timeout cm(now() + 0.01);
    std::exception_ptr err = co_await error_of(with_scope(cm, []() -> Coro<> {
      throw MyError();
      co_return;
    }));
    EXPECT_TRUE(holds<MyError>(err)) << what_of(err);
    EXPECT_FALSE(cm.expired());
  });
}

// The deadline passes, but the body replaces the CancelledError by another exception: that
// exception propagates unchanged, and the timeout's cancellation request is withdrawn.
TEST(Timeouts, ForeignExceptionOnTimeout) {
  run_main([&]() -> Coro<> {
    Timeout cm(now() + 0.01);
    std::exception_ptr err = co_await error_of(with_scope(cm, []() -> Coro<> {
      try {
        co_await asyncio::sleep(1s);
      } catch (const CancelledError&) {
        throw MyError();  // Python: `finally: 1/0`
      }
    }));
    EXPECT_TRUE(holds<MyError>(err)) << what_of(err);
    EXPECT_TRUE(cm.expired());
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
  });
}

// test_foreign_cancel_doesnt_timeout_if_not_expired
TEST(Timeouts, ForeignCancelDoesntTimeoutIfNotExpired) {
  run_main([&]() -> Coro<> {
    Timeout cm(now() + 10);
    std::exception_ptr err = co_await error_of(with_scope(cm, []() -> Coro<> {
      asyncio::current_task().cancel();
      co_await asyncio::sleep(10s);
    }));
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
    EXPECT_FALSE(cm.expired());
    // The outside request is still counted: the timeout withdrew nothing.
    EXPECT_EQ(asyncio::current_task().cancelling(), 1);
  });
}

TEST(Timeouts, OuterTaskIsNotCancelled) {
  run_main([&]() -> Coro<> {
    std::exception_ptr inner_err;
    auto outer = [&]() -> Coro<> {
      inner_err = co_await error_of(asyncio::timeout(1ms, sleep_forever()));
    };
    asyncio::Task<void> task = asyncio::create_task(outer());
    co_await task;
    EXPECT_TRUE(holds<TimeoutError>(inner_err)) << what_of(inner_err);
    EXPECT_TRUE(task.done());
    EXPECT_FALSE(task.cancelled());
    EXPECT_EQ(task.cancelling(), 0);
  });
}

// ---- A timeout racing with a cancellation from outside: CancelledError must win ---------------

// Cancelled from outside while the deadline is far: CancelledError, not expired.
TEST(Timeouts, OutsideCancelBeforeDeadline) {
  run_main([&]() -> Coro<> {
    Timeout cm(now() + 10);
    asyncio::Task<void> task = asyncio::create_task(with_scope(cm, sleep_forever));
    co_await asyncio::sleep(10ms);
    task.cancel();
    std::exception_ptr err = co_await error_of(task);
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
    EXPECT_TRUE(task.cancelled());
    EXPECT_FALSE(cm.expired());
  });
}

// The outside cancel() and the deadline land in the same iteration, the cancel first.
TEST(Timeouts, OutsideCancelAndDeadlineSameIterationCancelFirst) {
  run_main([&]() -> Coro<> {
    auto& loop = asyncio::get_running_loop();
    Timeout cm(std::nullopt);
    bool expired_in_body = false;
    asyncio::Task<void> task = asyncio::create_task(with_scope(cm, [&]() -> Coro<> {
      loop.call_soon([me = asyncio::current_task()] { me.cancel(); });
      cm.reschedule(loop.time() - 1);  // fires on the next iteration, after the cancel
      try {
        co_await asyncio::sleep(10s);
      } catch (const CancelledError&) {
        expired_in_body = cm.expired();
        throw;
      }
    }));
    std::exception_ptr err = co_await error_of(task);
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
    EXPECT_TRUE(task.cancelled());
    EXPECT_EQ(task.cancelling(), 1);  // the timeout withdrew only its own request
    EXPECT_TRUE(expired_in_body);
    EXPECT_TRUE(cm.expired());
  });
}

// Same, the deadline first.
TEST(Timeouts, OutsideCancelAndDeadlineSameIterationDeadlineFirst) {
  run_main([&]() -> Coro<> {
    auto& loop = asyncio::get_running_loop();
    Timeout cm(std::nullopt);
    asyncio::Task<void> task = asyncio::create_task(with_scope(cm, [&]() -> Coro<> {
      cm.reschedule(loop.time() - 1);
      loop.call_soon([me = asyncio::current_task()] { me.cancel(); });
      co_await asyncio::sleep(10s);
    }));
    std::exception_ptr err = co_await error_of(task);
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
    EXPECT_TRUE(task.cancelled());
    EXPECT_EQ(task.cancelling(), 1);
    EXPECT_TRUE(cm.expired());
  });
}

// The deadline passed and the body is cleaning up when the outside cancel() arrives: the
// outside cancellation propagates.
TEST(Timeouts, OutsideCancelDuringCleanupAfterExpiry) {
  run_main([&]() -> Coro<> {
    Timeout cm(now() + 0.01);
    bool cleanup_interrupted = false;
    asyncio::Task<void> task = asyncio::create_task(with_scope(cm, [&]() -> Coro<> {
      std::exception_ptr first = co_await sleep_error(10s);
      EXPECT_TRUE(holds<CancelledError>(first));
      EXPECT_TRUE(cm.expired());
      try {
        co_await asyncio::sleep(10s);  // cleanup, interrupted from outside
      } catch (const CancelledError&) {
        cleanup_interrupted = true;
        throw;
      }
      if (first) std::rethrow_exception(first);
    }));
    co_await asyncio::sleep(50ms);  // past the deadline, during the cleanup
    EXPECT_FALSE(task.done());
    task.cancel();
    std::exception_ptr err = co_await error_of(task);
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
    EXPECT_TRUE(cleanup_interrupted);
    EXPECT_TRUE(task.cancelled());
    EXPECT_TRUE(cm.expired());
  });
}

// The outside cancel() is delivered through a nested timeout scope: neither scope may turn it
// into TimeoutError.
TEST(Timeouts, OutsideCancelThroughNestedScopes) {
  run_main([&]() -> Coro<> {
    std::exception_ptr inner_err;
    asyncio::Task<void> task = asyncio::create_task(asyncio::timeout(10s, [&]() -> Coro<> {
      inner_err = co_await error_of(asyncio::timeout(10s, sleep_forever()));
      if (inner_err) std::rethrow_exception(inner_err);
    }));
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
    task.cancel("from outside");
    std::exception_ptr err = co_await error_of(task);
    EXPECT_TRUE(holds<CancelledError>(inner_err)) << what_of(inner_err);
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
    EXPECT_TRUE(task.cancelled());
    EXPECT_TRUE(contains(what_of(err), "from outside")) << what_of(err);
  });
}

// ---- A body that swallows the timeout's CancelledError -----------------------------------------

// The deadline passes while the body catches CancelledError and carries on: the scope ends
// normally with the body's result (Python raises TimeoutError only for a CancelledError that
// comes out of the body), expired() is true and the task is not left cancelled.
TEST(Timeouts, BodySwallowsCancellation) {
  run_main([&]() -> Coro<> {
    bool expired_inside = false;
    int r = co_await asyncio::timeout(10ms, [&](Timeout& cm) -> Coro<int> {
      std::exception_ptr e = co_await sleep_error(10s);
      EXPECT_TRUE(holds<CancelledError>(e));
      expired_inside = cm.expired();
      co_await asyncio::sleep(10ms);  // not cancelled again
      co_return 5;
    });
    EXPECT_EQ(r, 5);
    EXPECT_TRUE(expired_inside);
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
    std::exception_ptr err = co_await sleep_error(10ms);
    EXPECT_EQ(err, nullptr) << what_of(err);

    Timeout cm(now() + 0.01);
    co_await with_scope(cm, []() -> Coro<> {
      try {
        co_await asyncio::sleep(10s);
      } catch (const CancelledError&) {
      }
    });
    EXPECT_TRUE(cm.expired());
  });
}

// ---- reschedule() -------------------------------------------------------------------------------

// test_reschedule: another task moves and removes the deadline of a running scope.
TEST(Timeouts, RescheduleFromAnotherTask) {
  run_main([&]() -> Coro<> {
    auto& loop = asyncio::get_running_loop();
    asyncio::Future<Timeout*> fut = loop.create_future<Timeout*>();
    const double deadline1 = loop.time() + 10;
    const double deadline2 = deadline1 + 20;
    Timeout cm(deadline1);
    asyncio::Task<void> task = asyncio::create_task(with_scope(cm, [&]() -> Coro<> {
      fut.set_result(&cm);
      co_await asyncio::sleep(50s);
    }));
    Timeout* got = co_await fut;
    EXPECT_EQ(got, &cm);
    EXPECT_EQ(cm.when(), std::optional<double>(deadline1));
    cm.reschedule(deadline2);
    EXPECT_EQ(cm.when(), std::optional<double>(deadline2));
    cm.reschedule(std::nullopt);
    EXPECT_EQ(cm.when(), std::nullopt);
    task.cancel();
    std::exception_ptr err = co_await error_of(task);
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
    EXPECT_FALSE(cm.expired());
  });
}

// timeout(None) then reschedule(): the new deadline applies.
TEST(Timeouts, NoDeadlineThenReschedule) {
  run_main([&]() -> Coro<> {
    const double t0 = now();
    std::optional<double> before = 0.0, after;
    bool expired_inside = false;
    std::exception_ptr err =
        co_await error_of(asyncio::timeout(std::nullopt, [&](Timeout& cm) -> Coro<> {
          before = cm.when();
          cm.reschedule(now() + 0.01);
          after = cm.when();
          try {
            co_await asyncio::sleep(10s);
          } catch (const CancelledError&) {
            expired_inside = cm.expired();
            throw;
          }
        }));
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_EQ(before, std::nullopt);
    EXPECT_TRUE(after.has_value());
    EXPECT_TRUE(expired_inside);
    EXPECT_LT(now() - t0, 5.0);
  });
}

TEST(Timeouts, RescheduleLaterAvoidsExpiry) {
  run_main([&]() -> Coro<> {
    Timeout cm(now() + 0.02);
    std::exception_ptr err = co_await error_of(with_scope(cm, [&]() -> Coro<> {
      cm.reschedule(*cm.when() + 10);
      co_await asyncio::sleep(100ms);  // would span the original deadline
    }));
    EXPECT_EQ(err, nullptr) << what_of(err);
    EXPECT_FALSE(cm.expired());
  });
}

TEST(Timeouts, RescheduleToNoneDisables) {
  run_main([&]() -> Coro<> {
    Timeout cm(now() + 0.02);
    std::exception_ptr err = co_await error_of(with_scope(cm, [&]() -> Coro<> {
      cm.reschedule(std::nullopt);
      co_await asyncio::sleep(100ms);
    }));
    EXPECT_EQ(err, nullptr) << what_of(err);
    EXPECT_FALSE(cm.expired());
    EXPECT_EQ(cm.when(), std::nullopt);
  });
}

TEST(Timeouts, RescheduleEarlierExpires) {
  run_main([&]() -> Coro<> {
    const double t0 = now();
    Timeout cm(t0 + 10);
    std::exception_ptr err = co_await error_of(with_scope(cm, [&]() -> Coro<> {
      cm.reschedule(now() + 0.01);
      co_await asyncio::sleep(10s);
    }));
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_TRUE(cm.expired());
    EXPECT_LT(now() - t0, 5.0);
  });
}

// A deadline in the past fires on the next iteration (call_soon), before later timers.
TEST(Timeouts, RescheduleIntoThePast) {
  run_main([&]() -> Coro<> {
    Timeout cm(now() + 10);
    bool reached = false;
    std::exception_ptr err = co_await error_of(with_scope(cm, [&]() -> Coro<> {
      cm.reschedule(now() - 5);
      co_await asyncio::sleep(0s);
      reached = true;
    }));
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_FALSE(reached);
  });
}

// ---- States: expired() and the RuntimeErrors of reschedule()/enter() ------------------------

// expired() through created → active → expiring → expired, and reschedule() in each state.
TEST(Timeouts, ExpiredStatesWhenTheDeadlinePasses) {
  run_main([&]() -> Coro<> {
    Timeout cm(now() + 0.01);
    EXPECT_FALSE(cm.expired());  // created
    std::exception_ptr not_entered;
    try {
      cm.reschedule(now() + 1);
    } catch (...) {
      not_entered = std::current_exception();
    }
    EXPECT_TRUE(holds<asyncio::RuntimeError>(not_entered));
    EXPECT_TRUE(contains(what_of(not_entered), "has not been entered")) << what_of(not_entered);

    std::exception_ptr expiring;
    std::exception_ptr err = co_await error_of(with_scope(cm, [&]() -> Coro<> {
      EXPECT_FALSE(cm.expired());  // active
      std::exception_ptr e = co_await sleep_error(1s);
      EXPECT_TRUE(holds<CancelledError>(e));
      EXPECT_TRUE(cm.expired());  // expiring
      try {
        cm.reschedule(now() + 1);
      } catch (...) {
        expiring = std::current_exception();
      }
      if (e) std::rethrow_exception(e);
    }));
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_TRUE(holds<asyncio::RuntimeError>(expiring));
    EXPECT_TRUE(contains(what_of(expiring), "expiring")) << what_of(expiring);

    EXPECT_TRUE(cm.expired());  // expired
    std::exception_ptr expired;
    try {
      cm.reschedule(now() + 1);
    } catch (...) {
      expired = std::current_exception();
    }
    EXPECT_TRUE(holds<asyncio::RuntimeError>(expired));
    EXPECT_TRUE(contains(what_of(expired), "expired")) << what_of(expired);
  });
}

// A scope that finished before its deadline: not expired, and reschedule() is refused.
TEST(Timeouts, RescheduleAfterExitIsRuntimeError) {
  run_main([&]() -> Coro<> {
    Timeout cm(now() + 10);
    co_await with_scope(cm, []() -> Coro<> { co_await asyncio::sleep(0s); });
    EXPECT_FALSE(cm.expired());
    std::exception_ptr err;
    try {
      cm.reschedule(now() + 0.02);
    } catch (...) {
      err = std::current_exception();
    }
    EXPECT_TRUE(holds<asyncio::RuntimeError>(err)) << what_of(err);
    EXPECT_TRUE(contains(what_of(err), "finished")) << what_of(err);
    // The refused reschedule() armed nothing: the task is not cancelled later.
    std::exception_ptr slept = co_await sleep_error(50ms);
    EXPECT_EQ(slept, nullptr) << what_of(slept);
  });
}

TEST(Timeouts, TimeoutAlreadyEntered) {
  run_main([&]() -> Coro<> {
    Timeout cm(now() + 10);
    std::exception_ptr err;
    co_await with_scope(cm, [&]() -> Coro<> {
      try {
        cm.enter();
      } catch (...) {
        err = std::current_exception();
      }
      co_return;
    });
    EXPECT_TRUE(holds<asyncio::RuntimeError>(err)) << what_of(err);
    EXPECT_TRUE(contains(what_of(err), "has already been entered")) << what_of(err);
  });
}

TEST(Timeouts, TimeoutDoubleEnter) {
  run_main([&]() -> Coro<> {
    Timeout cm(now() + 10);
    co_await with_scope(cm, []() -> Coro<> { co_return; });
    std::exception_ptr err = co_await error_of(with_scope(cm, []() -> Coro<> { co_return; }));
    EXPECT_TRUE(holds<asyncio::RuntimeError>(err)) << what_of(err);
    EXPECT_TRUE(contains(what_of(err), "has already been entered")) << what_of(err);
  });
}

TEST(Timeouts, TimeoutWithoutTask) {
  // No loop at all.
  Timeout cm(1.0);
  EXPECT_THROW(cm.enter(), asyncio::RuntimeError);
  EXPECT_THROW(cm.reschedule(2.0), asyncio::RuntimeError);
  EXPECT_FALSE(cm.expired());

  // A running loop, but from a plain callback rather than a task.
  run_main([&]() -> Coro<> {
    auto& loop = asyncio::get_running_loop();
    Timeout cm2(loop.time() + 0.01);
    std::string entered_error, rescheduled_error;
    loop.call_soon([&] {
      try {
        cm2.enter();
      } catch (const asyncio::RuntimeError& e) {
        entered_error = e.what();
      }
      try {
        cm2.reschedule(1.0);
      } catch (const asyncio::RuntimeError& e) {
        rescheduled_error = e.what();
      }
    });
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
    EXPECT_TRUE(contains(entered_error, "task")) << entered_error;
    EXPECT_TRUE(contains(rescheduled_error, "has not been entered")) << rescheduled_error;
  });
}

// ---- Cleanup code after a cancellation -------------------------------------------------------

// test_nested_timeout_in_finally: a timeout used during the cleanup of an expired one.
TEST(Timeouts, NestedTimeoutInCleanup) {
  run_main([&]() -> Coro<> {
    std::exception_ptr cleanup_err;
    std::exception_ptr err = co_await error_of(asyncio::timeout(10ms, [&]() -> Coro<> {
      std::exception_ptr e = co_await sleep_error(1s);
      // "finally:" (C++ cannot co_await inside a catch handler)
      cleanup_err = co_await error_of(asyncio::timeout(10ms, sleep_forever()));
      if (e) std::rethrow_exception(e);
    }));
    EXPECT_TRUE(holds<TimeoutError>(cleanup_err)) << what_of(cleanup_err);
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
  });
}

// test_timeout_after_cancellation: a task that swallowed a cancellation (cancelling() == 1)
// can still use a timeout; the timeout compares against the count it found on entry.
TEST(Timeouts, TimeoutAfterCancellation) {
  run_main([&]() -> Coro<> {
    asyncio::current_task().cancel();
    std::exception_ptr e = co_await sleep_error(1s);
    EXPECT_TRUE(holds<CancelledError>(e));
    EXPECT_EQ(asyncio::current_task().cancelling(), 1);
    std::exception_ptr err = co_await error_of(asyncio::timeout(0s, sleep_forever()));
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_EQ(asyncio::current_task().cancelling(), 1);
  });
}

TEST(Timeouts, CancelInTimeoutAfterCancellation) {
  run_main([&]() -> Coro<> {
    asyncio::current_task().cancel();
    std::exception_ptr e = co_await sleep_error(1s);
    EXPECT_TRUE(holds<CancelledError>(e));
    std::exception_ptr err = co_await error_of(asyncio::timeout(1s, []() -> Coro<> {
      asyncio::current_task().cancel();
      co_await asyncio::sleep(2s);
    }));
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
    EXPECT_EQ(asyncio::current_task().cancelling(), 2);
  });
}

// ---- The scope-function forms ------------------------------------------------------------------

TEST(Timeouts, ReturnsTheBodyResult) {
  run_main([&]() -> Coro<> {
    int a = co_await asyncio::timeout(1s, answer_after(1ms));
    EXPECT_EQ(a, 42);
    std::string s = co_await asyncio::timeout(1s, []() -> Coro<std::string> {
      co_await asyncio::sleep(0s);
      co_return std::string(100, 'x');
    });
    EXPECT_EQ(s, std::string(100, 'x'));
    double when_seen = 0;
    int b = co_await asyncio::timeout_at(now() + 10, [&](Timeout& cm) -> Coro<int> {
      when_seen = cm.when().value_or(0);
      co_return 1;
    });
    EXPECT_EQ(b, 1);
    EXPECT_GT(when_seen, 0);
  });
}

TEST(Timeouts, CoroBodyExpires) {
  run_main([&]() -> Coro<> {
    std::exception_ptr err = co_await error_of(asyncio::timeout(10ms, answer_after(10s)));
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
  });
}

// The body runs in the calling task (no new task), as Python's `async with` does.
TEST(Timeouts, BodyRunsInTheCallingTask) {
  run_main([&]() -> Coro<> {
    asyncio::AnyTask me = asyncio::current_task();
    asyncio::AnyTask inside;
    co_await asyncio::timeout(1s, [&]() -> Coro<> {
      inside = asyncio::current_task();
      co_return;
    });
    EXPECT_TRUE(inside == me);
  });
}

// ---- The loop closes while a task waits here -------------------------------------------------

TEST(Timeouts, LoopClosedInsideTheScope) {
  auto reports = close_loop_while_pending([&](asyncio::EventLoop& loop) {
    auto scoped = []() -> Coro<> {
      co_await asyncio::timeout(10s, [](Timeout& cm) -> Coro<> {
        co_await asyncio::timeout(std::nullopt, sleep_forever());
        cm.reschedule(std::nullopt);
      });
    };
    asyncio::Task<void> t = loop.create_task(scoped());
    loop.run_until_complete([]() -> Coro<> { co_await asyncio::sleep(5ms); }());
    EXPECT_FALSE(t.done());
  });
  EXPECT_EQ(count_of(reports, "Task was destroyed but it is pending!"), 1u);
}

// timeout() reads the running loop's clock when called (Python: asyncio.timeout() calls
// get_running_loop()), so it cannot be called outside a running loop.
TEST(Timeouts, TimeoutNeedsARunningLoop) {
  EXPECT_THROW((void)asyncio::timeout(1s, sleep_forever()), asyncio::RuntimeError);
  Coro<> at = asyncio::timeout_at(1.0, sleep_forever());  // absolute: nothing to read yet
  EXPECT_TRUE(at.valid());
}

}  // namespace
