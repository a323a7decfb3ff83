// Tests of EventLoop: scheduling, timers, handles, running/stopping, closing, error handling,
// debug mode and fd watching (Python: test_asyncio/test_base_events.py, test_events.py).

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/events.hpp"
#include "asyncio/futures.hpp"
#include "asyncio/tasks.hpp"
#include "core_helpers.hpp"

using namespace std::chrono_literals;
using asyncio::EventLoop;

namespace {

using coretest::run_once;  // Python's test_utils.run_once

/// Arms a far-away timer that stops the loop, so a broken test fails instead of hanging.
asyncio::TimerHandle safety_stop(EventLoop& loop, bool& fired, asyncio::Duration after = 10s) {
  return loop.call_later(after, [&loop, &fired] {
    fired = true;
    loop.stop();
  });
}

struct Pipe {
  int r = -1;
  int w = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
      throw std::system_error(errno, std::generic_category());
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
};

struct SocketPair {
  int a = -1;
  int b = -1;
  SocketPair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
      throw std::system_error(errno, std::generic_category());
    }
    a = fds[0];
    b = fds[1];
  }
  ~SocketPair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
};

std::string what_of(const std::exception_ptr& e) {
  return asyncio::describe(e);
}

}  // namespace

// ---- call_soon -------------------------------------------------------------------------------

TEST(EventLoopTest, CallSoonRunsCallbacksInFifoOrder) {
  EventLoop loop;
  std::vector<int> log;
  for (int i = 0; i < 10; ++i) loop.call_soon([&log, i] { log.push_back(i); });
  run_once(loop);
  EXPECT_EQ(log, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(EventLoopTest, CallSoonPassesArguments) {
  EventLoop loop;
  std::string got;
  loop.call_soon([&got](int n, const std::string& s) { got = s + std::to_string(n); }, 7,
                 std::string("x"));
  run_once(loop);
  EXPECT_EQ(got, "x7");
}

TEST(EventLoopTest, CallbacksScheduledDuringAnIterationRunOnTheNextOne) {
  EventLoop loop;
  std::vector<std::string> log;
  loop.call_soon([&] {
    log.push_back("a");
    loop.call_soon([&] { log.push_back("b"); });
  });
  loop.call_soon([&] {
    log.push_back("c");
    loop.stop();  // stops after this iteration: "b" was scheduled during it
  });
  loop.run_forever();
  EXPECT_EQ(log, (std::vector<std::string>{"a", "c"}));
  run_once(loop);
  EXPECT_EQ(log, (std::vector<std::string>{"a", "c", "b"}));
}

TEST(EventLoopTest, CallbackChainAdvancesOneStepPerIteration) {
  EventLoop loop;
  int chain = 0;
  int iterations = 0;
  std::function<void()> step = [&] {
    ++chain;
    loop.call_soon(step);
  };
  loop.call_soon(step);
  for (int i = 0; i < 5; ++i) {
    run_once(loop);
    ++iterations;
  }
  EXPECT_EQ(chain, iterations);
}

TEST(EventLoopTest, StopBeforeRunForeverRunsOneIteration) {
  // Python: stop() before run_forever() runs the callbacks already scheduled, then returns.
  EventLoop loop;
  std::vector<int> log;
  loop.call_soon([&] {
    log.push_back(1);
    loop.call_soon([&] { log.push_back(2); });
  });
  loop.stop();
  loop.run_forever();
  EXPECT_EQ(log, std::vector<int>{1});
  EXPECT_FALSE(loop.is_running());
  run_once(loop);
  EXPECT_EQ(log, (std::vector<int>{1, 2}));
}

TEST(EventLoopTest, StopInsideCallbackEndsRunForever) {
  EventLoop loop;
  bool running_inside = false;
  EXPECT_FALSE(loop.is_running());
  loop.call_soon([&] {
    running_inside = loop.is_running();
    loop.stop();
  });
  loop.run_forever();
  EXPECT_TRUE(running_inside);
  EXPECT_FALSE(loop.is_running());
  // It can run again after stopping.
  bool again = false;
  loop.call_soon([&] {
    again = true;
    loop.stop();
  });
  loop.run_forever();
  EXPECT_TRUE(again);
}

// ---- Handles -----------------------------------------------------------------------------------

TEST(EventLoopTest, HandleCancelBeforeRunPreventsTheCallback) {
  EventLoop loop;
  int calls = 0;
  asyncio::Handle h = loop.call_soon([&] { ++calls; });
  EXPECT_TRUE(static_cast<bool>(h));
  EXPECT_FALSE(h.cancelled());
  h.cancel();
  EXPECT_TRUE(h.cancelled());
  h.cancel();  // twice: no effect
  EXPECT_TRUE(h.cancelled());
  run_once(loop);
  EXPECT_EQ(calls, 0);
}

TEST(EventLoopTest, HandleCancelAfterRunIsHarmless) {
  EventLoop loop;
  int calls = 0;
  asyncio::Handle h = loop.call_soon([&] { ++calls; });
  run_once(loop);
  EXPECT_EQ(calls, 1);
  h.cancel();  // Python marks it cancelled; nothing else happens
  EXPECT_TRUE(h.cancelled());
  h.cancel();
  run_once(loop);
  EXPECT_EQ(calls, 1);
}

TEST(EventLoopTest, HandleCopiesReferToTheSameCallback) {
  EventLoop loop;
  int calls = 0;
  asyncio::Handle h = loop.call_soon([&] { ++calls; });
  asyncio::Handle copy = h;
  copy.cancel();
  EXPECT_TRUE(h.cancelled());
  run_once(loop);
  EXPECT_EQ(calls, 0);
}

TEST(EventLoopTest, DefaultHandleIsEmpty) {
  asyncio::Handle h;
  EXPECT_FALSE(static_cast<bool>(h));
  EXPECT_FALSE(h.cancelled());
  h.cancel();  // no-op
  asyncio::TimerHandle t;
  EXPECT_FALSE(static_cast<bool>(t));
  EXPECT_EQ(t.when(), 0.0);
}

TEST(EventLoopTest, CancelCallbackFromAnEarlierCallbackOfTheSameIteration) {
  EventLoop loop;
  std::vector<int> log;
  asyncio::Handle second;
  loop.call_soon([&] {
    log.push_back(1);
    second.cancel();
  });
  second = loop.call_soon([&] { log.push_back(2); });
  loop.call_soon([&] { log.push_back(3); });
  run_once(loop);
  EXPECT_EQ(log, (std::vector<int>{1, 3}));
}

// ---- Timers ------------------------------------------------------------------------------------

TEST(EventLoopTest, TimeIsMonotonic) {
  EventLoop loop;
  double prev = loop.time();
  for (int i = 0; i < 1000; ++i) {
    double now = loop.time();
    ASSERT_GE(now, prev);
    prev = now;
  }
  std::this_thread::sleep_for(2ms);
  EXPECT_GT(loop.time(), prev);
}

TEST(EventLoopTest, CallLaterRunsInDeadlineOrder) {
  EventLoop loop;
  std::vector<int> log;
  loop.call_later(30ms, [&] { log.push_back(3); });
  loop.call_later(10ms, [&] { log.push_back(1); });
  loop.call_later(20ms, [&] { log.push_back(2); });
  loop.call_later(40ms, [&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(log, (std::vector<int>{1, 2, 3}));
}

TEST(EventLoopTest, CallLaterWaitsAtLeastTheDelay) {
  EventLoop loop;
  double start = loop.time();
  double ran_at = 0;
  loop.call_later(20ms, [&] {
    ran_at = loop.time();
    loop.stop();
  });
  loop.run_forever();
  EXPECT_GE(ran_at - start, 0.020 - 1e-3);
}

TEST(EventLoopTest, CallAtWithEqualDeadlinesRunsInSchedulingOrder) {
  EventLoop loop;
  std::vector<int> log;
  const double when = loop.time() + 0.01;
  for (int i = 0; i < 20; ++i) loop.call_at(when, [&log, i] { log.push_back(i); });
  loop.call_at(when, [&] { loop.stop(); });
  loop.run_forever();
  std::vector<int> expected(20);
  for (int i = 0; i < 20; ++i) expected[static_cast<std::size_t>(i)] = i;
  EXPECT_EQ(log, expected);
}

TEST(EventLoopTest, CallLaterZeroAndNegativeRunOnTheNextIteration) {
  EventLoop loop;
  std::vector<int> log;
  loop.call_later(0s, [&] { log.push_back(1); });
  loop.call_later(-5s, [&] { log.push_back(2); });
  run_once(loop);
  // Both expired timers ran in the iteration, in (deadline, order) order.
  EXPECT_EQ(log, (std::vector<int>{2, 1}));
}

TEST(EventLoopTest, TimersInterleaveCorrectlyWithRemovals) {
  EventLoop loop;
  std::vector<int> fired;
  std::vector<asyncio::TimerHandle> handles;
  const double base = loop.time() + 0.005;
  // Distinct deadlines in a scrambled order (37 is coprime with 60); cancelling every third
  // exercises removal from the middle of the heap.
  auto slot = [](int i) { return (i * 37) % 60; };
  for (int i = 0; i < 60; ++i) {
    handles.push_back(loop.call_at(base + 0.0003 * slot(i), [&fired, i] { fired.push_back(i); }));
  }
  std::vector<int> expected;
  for (int i = 0; i < 60; ++i) {
    if (i % 3 == 0) {
      handles[static_cast<std::size_t>(i)].cancel();
    } else {
      expected.push_back(i);
    }
  }
  std::sort(expected.begin(), expected.end(), [&](int a, int b) { return slot(a) < slot(b); });
  loop.call_at(base + 0.03, [&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(fired, expected);
}

TEST(EventLoopTest, TimerHandleWhenIsTheDeadline) {
  EventLoop loop;
  const double when = loop.time() + 123.5;
  asyncio::TimerHandle th = loop.call_at(when, [] {});
  EXPECT_NEAR(th.when(), when, 1e-6);
  const double before = loop.time();
  asyncio::TimerHandle later = loop.call_later(2s, [] {});
  const double after = loop.time();
  EXPECT_GE(later.when(), before + 2.0 - 1e-6);
  EXPECT_LE(later.when(), after + 2.0 + 1e-6);
  th.cancel();
  EXPECT_NEAR(th.when(), when, 1e-6);  // still readable after cancel
  later.cancel();
}

TEST(EventLoopTest, TimerHandleCancelBeforeItFires) {
  EventLoop loop;
  int calls = 0;
  asyncio::TimerHandle th = loop.call_later(5ms, [&] { ++calls; });
  th.cancel();
  EXPECT_TRUE(th.cancelled());
  th.cancel();  // twice
  loop.call_later(30ms, [&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(calls, 0);
}

TEST(EventLoopTest, TimerHandleCancelAfterItFired) {
  EventLoop loop;
  int calls = 0;
  asyncio::TimerHandle th = loop.call_later(1ms, [&] {
    ++calls;
    loop.stop();
  });
  loop.run_forever();
  EXPECT_EQ(calls, 1);
  th.cancel();
  th.cancel();
  EXPECT_TRUE(th.cancelled());
  run_once(loop);
  EXPECT_EQ(calls, 1);
}

TEST(EventLoopTest, CancelExpiredTimerAlreadyMovedToTheReadyQueue) {
  // Both timers expire in the same iteration; the first cancels the second, which is then
  // already on the ready queue (Python checks handle._cancelled when it pops it).
  EventLoop loop;
  std::vector<int> log;
  asyncio::TimerHandle second;
  const double when = loop.time() + 0.002;
  loop.call_at(when, [&] {
    log.push_back(1);
    second.cancel();
  });
  second = loop.call_at(when, [&] { log.push_back(2); });
  loop.call_at(when + 0.01, [&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(log, std::vector<int>{1});
}

TEST(EventLoopTest, TimerHandleOutlivingItsCallbackIsSafe) {
  EventLoop loop;
  asyncio::TimerHandle th;
  {
    auto payload = std::make_shared<int>(5);
    th = loop.call_later(1ms, [payload, &loop] { loop.stop(); });
  }
  loop.run_forever();
  EXPECT_FALSE(th.cancelled());
}

TEST(EventLoopTest, CancellingTimersDoesNotLeakOnClose) {
  auto payload = std::make_shared<int>(1);
  {
    EventLoop loop;
    for (int i = 0; i < 10; ++i) loop.call_later(10s, [payload] {});
    asyncio::TimerHandle th = loop.call_later(20s, [payload] {});
    loop.call_soon([payload] {});
    EXPECT_EQ(payload.use_count(), 13);
    th.cancel();
    EXPECT_EQ(payload.use_count(), 13);  // the handle still owns the callback
    th = {};
    EXPECT_EQ(payload.use_count(), 12);
    loop.close();
    EXPECT_EQ(payload.use_count(), 1);  // close() drops timers and ready callbacks
  }
  EXPECT_EQ(payload.use_count(), 1);
}

// ---- Running, closing, misuse --------------------------------------------------------------

TEST(EventLoopTest, RunForeverWhileRunningRaises) {
  EventLoop loop;
  std::string error;
  loop.call_soon([&] {
    try {
      loop.run_forever();
    } catch (const asyncio::RuntimeError& e) {
      error = e.what();
    }
    loop.stop();
  });
  loop.run_forever();
  EXPECT_EQ(error, "This event loop is already running");
  EXPECT_FALSE(loop.is_running());
}

TEST(EventLoopTest, RunningAnotherLoopInTheSameThreadRaises) {
  EventLoop outer;
  EventLoop inner;
  std::string error;
  outer.call_soon([&] {
    try {
      inner.run_forever();
    } catch (const asyncio::RuntimeError& e) {
      error = e.what();
    }
    outer.stop();
  });
  outer.run_forever();
  EXPECT_EQ(error, "Cannot run the event loop while another loop is running");
  EXPECT_FALSE(inner.is_running());
  // The inner loop is still usable once the outer one stopped.
  bool ran = false;
  inner.call_soon([&] {
    ran = true;
    inner.stop();
  });
  inner.run_forever();
  EXPECT_TRUE(ran);
}

TEST(EventLoopTest, RunUntilCompleteWhileRunningRaisesAndSchedulesNothing) {
  // Python checks the loop before wrapping the coroutine in a task: no stray task is left.
  EventLoop loop;
  std::string error;
  bool body_ran = false;
  auto body = [&]() -> asyncio::Coro<int> {
    body_ran = true;
    co_return 1;
  };
  loop.call_soon([&] {
    try {
      loop.run_until_complete(body());
    } catch (const asyncio::RuntimeError& e) {
      error = e.what();
    }
    loop.stop();
  });
  loop.run_forever();
  EXPECT_EQ(error, "This event loop is already running");
  EXPECT_TRUE(asyncio::all_tasks(loop).empty());
  run_once(loop);
  EXPECT_FALSE(body_ran);
}

TEST(EventLoopTest, CloseWhileRunningRaises) {
  EventLoop loop;
  std::string error;
  loop.call_soon([&] {
    try {
      loop.close();
    } catch (const asyncio::RuntimeError& e) {
      error = e.what();
    }
    loop.stop();
  });
  loop.run_forever();
  EXPECT_EQ(error, "Cannot close a running event loop");
  EXPECT_FALSE(loop.is_closed());
  loop.close();
  EXPECT_TRUE(loop.is_closed());
}

TEST(EventLoopTest, ClosedLoopRejectsEverything) {
  EventLoop loop;
  loop.close();
  EXPECT_TRUE(loop.is_closed());
  loop.close();  // idempotent
  auto expect_closed = [](auto&& f) {
    try {
      f();
      ADD_FAILURE() << "no exception";
    } catch (const asyncio::RuntimeError& e) {
      EXPECT_STREQ(e.what(), "Event loop is closed");
    }
  };
  expect_closed([&] { loop.call_soon([] {}); });
  expect_closed([&] { loop.call_later(1s, [] {}); });
  expect_closed([&] { loop.call_at(loop.time(), [] {}); });
  expect_closed([&] { loop.call_soon_threadsafe([] {}); });
  expect_closed([&] { loop.run_forever(); });
  expect_closed([&] { loop.create_future<int>(); });
  auto coro = []() -> asyncio::Coro<int> { co_return 1; };
  expect_closed([&] { loop.create_task(coro()); });
  expect_closed([&] { loop.run_until_complete(coro()); });
}

TEST(EventLoopTest, CloseDropsPendingCallbacksWithoutRunningThem) {
  auto payload = std::make_shared<int>(0);
  int calls = 0;
  {
    EventLoop loop;
    loop.call_soon([payload, &calls] { ++calls; });
    loop.call_later(1ms, [payload, &calls] { ++calls; });
    loop.close();
    EXPECT_EQ(payload.use_count(), 1);
  }
  EXPECT_EQ(calls, 0);
}

TEST(EventLoopTest, DestructorClosesTheLoop) {
  auto payload = std::make_shared<int>(0);
  {
    EventLoop loop;
    loop.call_soon([payload] {});
    loop.call_later(10s, [payload] {});
  }
  EXPECT_EQ(payload.use_count(), 1);
}

TEST(EventLoopTest, GetRunningLoop) {
  try {
    asyncio::get_running_loop();
    ADD_FAILURE() << "no exception";
  } catch (const asyncio::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "no running event loop");
  }
  EventLoop loop;
  EventLoop* seen = nullptr;
  loop.call_soon([&] {
    seen = &asyncio::get_running_loop();
    loop.stop();
  });
  loop.run_forever();
  EXPECT_EQ(seen, &loop);
  EXPECT_THROW(asyncio::get_running_loop(), asyncio::RuntimeError);
}

TEST(EventLoopTest, RunUntilCompleteWithAFuture) {
  EventLoop loop;
  asyncio::Future<int> f = loop.create_future<int>();
  loop.call_later(1ms, [f] { f.set_result(17); });
  EXPECT_EQ(loop.run_until_complete(f), 17);
  EXPECT_FALSE(loop.is_running());
}

TEST(EventLoopTest, RunUntilCompleteRethrows) {
  EventLoop loop;
  asyncio::Future<int> f = loop.create_future<int>();
  loop.call_soon([f] { f.set_exception(std::runtime_error("bad")); });
  EXPECT_THROW(loop.run_until_complete(f), std::runtime_error);
}

TEST(EventLoopTest, RunUntilCompleteStoppedEarlyRaises) {
  EventLoop loop;
  asyncio::Future<int> f = loop.create_future<int>();
  loop.call_soon([&] { loop.stop(); });
  try {
    loop.run_until_complete(f);
    ADD_FAILURE() << "no exception";
  } catch (const asyncio::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "Event loop stopped before Future completed.");
  }
  f.set_result(1);
  EXPECT_EQ(loop.run_until_complete(f), 1);
}

// ---- Errors --------------------------------------------------------------------------------

TEST(EventLoopTest, ExceptionInCallbackGoesToTheHandler) {
  EventLoop loop;
  std::vector<asyncio::ExceptionContext> seen;
  EventLoop* handler_loop = nullptr;
  loop.set_exception_handler([&](EventLoop& l, const asyncio::ExceptionContext& c) {
    handler_loop = &l;
    seen.push_back(c);
  });
  EXPECT_TRUE(static_cast<bool>(loop.get_exception_handler()));
  bool after = false;
  loop.call_soon([] { throw std::runtime_error("boom"); });
  loop.call_soon([&] { after = true; });  // the loop keeps going
  run_once(loop);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(handler_loop, &loop);
  EXPECT_EQ(seen[0].message, "Exception in callback");
  EXPECT_EQ(what_of(seen[0].exception), "boom");
  EXPECT_TRUE(after);
}

TEST(EventLoopTest, ExceptionInTimerCallbackGoesToTheHandler) {
  EventLoop loop;
  std::vector<std::string> seen;
  loop.set_exception_handler([&](EventLoop&, const asyncio::ExceptionContext& c) {
    seen.push_back(what_of(c.exception));
  });
  loop.call_later(1ms, [] { throw std::logic_error("late"); });
  loop.call_later(5ms, [&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(seen, std::vector<std::string>{"late"});
}

TEST(EventLoopTest, HandlerThatThrowsIsReportedByTheDefaultHandler) {
  EventLoop loop;
  int handler_calls = 0;
  loop.set_exception_handler([&](EventLoop&, const asyncio::ExceptionContext&) {
    ++handler_calls;
    throw std::runtime_error("handler failed");
  });
  bool after = false;
  loop.call_soon([] { throw std::runtime_error("original"); });
  loop.call_soon([&] { after = true; });
  testing::internal::CaptureStderr();
  run_once(loop);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(handler_calls, 1);
  EXPECT_TRUE(after);
  EXPECT_NE(err.find("Unhandled error in exception handler"), std::string::npos) << err;
  EXPECT_NE(err.find("handler failed"), std::string::npos) << err;
  EXPECT_NE(err.find("original"), std::string::npos) << err;
}

TEST(EventLoopTest, DefaultHandlerPrintsToStderr) {
  EventLoop loop;
  loop.call_soon([] { throw std::runtime_error("printed boom"); });
  testing::internal::CaptureStderr();
  run_once(loop);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("Exception in callback"), std::string::npos) << err;
  EXPECT_NE(err.find("printed boom"), std::string::npos) << err;
}

TEST(EventLoopTest, EmptyHandlerRestoresTheDefault) {
  EventLoop loop;
  int calls = 0;
  loop.set_exception_handler([&](EventLoop&, const asyncio::ExceptionContext&) { ++calls; });
  loop.set_exception_handler({});
  EXPECT_FALSE(static_cast<bool>(loop.get_exception_handler()));
  loop.call_soon([] { throw std::runtime_error("to stderr"); });
  testing::internal::CaptureStderr();
  run_once(loop);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(calls, 0);
  EXPECT_NE(err.find("to stderr"), std::string::npos) << err;
}

TEST(EventLoopTest, CallExceptionHandlerDirectly) {
  EventLoop loop;
  asyncio::ExceptionContext got;
  loop.set_exception_handler([&](EventLoop&, const asyncio::ExceptionContext& c) { got = c; });
  loop.call_exception_handler({"custom message", nullptr, "Task-9"});
  EXPECT_EQ(got.message, "custom message");
  EXPECT_EQ(got.task, "Task-9");
  EXPECT_FALSE(got.exception);
  testing::internal::CaptureStderr();
  loop.default_exception_handler({"direct default", nullptr, {}});
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("direct default"), std::string::npos) << err;
}

// ---- Debug mode ------------------------------------------------------------------------------

TEST(EventLoopTest, DebugModeWarnsAboutSlowCallbacks) {
  EventLoop loop;
  EXPECT_FALSE(loop.get_debug());
  loop.set_debug(true);
  EXPECT_TRUE(loop.get_debug());
  loop.set_slow_callback_duration(1ms);
  EXPECT_DOUBLE_EQ(loop.slow_callback_duration().count(), 0.001);
  loop.call_soon([] { std::this_thread::sleep_for(20ms); });
  testing::internal::CaptureStderr();
  run_once(loop);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("took"), std::string::npos) << err;
}

TEST(EventLoopTest, NoSlowCallbackWarningOutsideDebugMode) {
  EventLoop loop;
  loop.set_slow_callback_duration(1ms);
  loop.call_soon([] { std::this_thread::sleep_for(10ms); });
  testing::internal::CaptureStderr();
  run_once(loop);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "");
}

TEST(EventLoopTest, DebugModeDoesNotWarnAboutFastCallbacks) {
  EventLoop loop;
  loop.set_debug(true);
  loop.set_slow_callback_duration(10s);
  loop.call_soon([] {});
  testing::internal::CaptureStderr();
  run_once(loop);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "");
}

// ---- File descriptors --------------------------------------------------------------------

TEST(EventLoopTest, AddReaderCallsBackWhenThePipeIsReadable) {
  EventLoop loop;
  Pipe p;
  std::string received;
  int calls = 0;
  loop.add_reader(p.r, [&] {
    ++calls;
    char buf[64];
    ssize_t n = ::read(p.r, buf, sizeof buf);
    if (n > 0) received.append(buf, static_cast<std::size_t>(n));
    if (received == "hello") loop.stop();
  });
  loop.call_soon([&] { ASSERT_EQ(::write(p.w, "hello", 5), 5); });
  bool timed_out = false;
  auto guard = safety_stop(loop, timed_out);
  loop.run_forever();
  guard.cancel();
  EXPECT_FALSE(timed_out);
  EXPECT_EQ(received, "hello");
  EXPECT_GE(calls, 1);
  EXPECT_TRUE(loop.remove_reader(p.r));
  EXPECT_FALSE(loop.remove_reader(p.r));
}

TEST(EventLoopTest, ReaderIsNotCalledWhileNothingIsReadable) {
  EventLoop loop;
  Pipe p;
  int calls = 0;
  loop.add_reader(p.r, [&] { ++calls; });
  loop.call_later(20ms, [&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(loop.remove_reader(p.r));
}

TEST(EventLoopTest, RemovedReaderIsNotCalled) {
  EventLoop loop;
  Pipe p;
  int calls = 0;
  loop.add_reader(p.r, [&] { ++calls; });
  ASSERT_EQ(::write(p.w, "x", 1), 1);
  EXPECT_TRUE(loop.remove_reader(p.r));
  loop.call_later(20ms, [&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(calls, 0);
}

TEST(EventLoopTest, ReaderRemovedByAnEarlierCallbackOfTheSameIterationDoesNotRun) {
  // Readiness found by the poll is queued; remove_reader() before it runs cancels it.
  EventLoop loop;
  SocketPair s;
  int calls_a = 0, calls_b = 0;
  ASSERT_EQ(::write(s.b, "x", 1), 1);
  ASSERT_EQ(::write(s.a, "y", 1), 1);
  // Whichever runs first removes the other; exactly one of them must run.
  loop.add_reader(s.a, [&] {
    ++calls_a;
    loop.remove_reader(s.b);
    loop.remove_reader(s.a);
  });
  loop.add_reader(s.b, [&] {
    ++calls_b;
    loop.remove_reader(s.a);
    loop.remove_reader(s.b);
  });
  loop.call_later(20ms, [&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(calls_a + calls_b, 1);
}

TEST(EventLoopTest, AddReaderReplacesThePreviousCallback) {
  EventLoop loop;
  Pipe p;
  int first = 0, second = 0;
  loop.add_reader(p.r, [&] { ++first; });
  loop.add_reader(
      p.r,
      [&](int tag) {
        second += tag;
        char c;
        (void)::read(p.r, &c, 1);
        loop.stop();
      },
      1);
  ASSERT_EQ(::write(p.w, "z", 1), 1);
  bool timed_out = false;
  auto guard = safety_stop(loop, timed_out);
  loop.run_forever();
  guard.cancel();
  EXPECT_FALSE(timed_out);
  EXPECT_EQ(first, 0);
  EXPECT_EQ(second, 1);
  EXPECT_TRUE(loop.remove_reader(p.r));
}

TEST(EventLoopTest, AddWriterCallsBackWhenWritable) {
  EventLoop loop;
  Pipe p;
  int calls = 0;
  loop.add_writer(p.w, [&] {
    ++calls;
    EXPECT_TRUE(loop.remove_writer(p.w));
    loop.stop();
  });
  bool timed_out = false;
  auto guard = safety_stop(loop, timed_out);
  loop.run_forever();
  guard.cancel();
  EXPECT_FALSE(timed_out);
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(loop.remove_writer(p.w));
}

TEST(EventLoopTest, ReaderAndWriterOnTheSameSocket) {
  EventLoop loop;
  SocketPair s;
  int reads = 0, writes = 0;
  loop.add_reader(s.a, [&] {
    char buf[16];
    if (::read(s.a, buf, sizeof buf) > 0) ++reads;
    loop.stop();
  });
  loop.add_writer(s.a, [&] {
    ++writes;
    loop.remove_writer(s.a);  // the reader must stay registered
    ASSERT_EQ(::write(s.b, "ping", 4), 4);
  });
  bool timed_out = false;
  auto guard = safety_stop(loop, timed_out);
  loop.run_forever();
  guard.cancel();
  EXPECT_FALSE(timed_out);
  EXPECT_EQ(writes, 1);
  EXPECT_EQ(reads, 1);
  EXPECT_FALSE(loop.remove_writer(s.a));
  EXPECT_TRUE(loop.remove_reader(s.a));
  EXPECT_FALSE(loop.remove_reader(s.a));
}

TEST(EventLoopTest, RemovingTheReaderKeepsTheWriter) {
  EventLoop loop;
  SocketPair s;
  int reads = 0, writes = 0;
  loop.add_reader(s.a, [&] { ++reads; });
  loop.add_writer(s.a, [&] {
    ++writes;
    loop.stop();
  });
  EXPECT_TRUE(loop.remove_reader(s.a));
  bool timed_out = false;
  auto guard = safety_stop(loop, timed_out);
  loop.run_forever();
  guard.cancel();
  EXPECT_FALSE(timed_out);
  EXPECT_EQ(reads, 0);
  EXPECT_GE(writes, 1);
  EXPECT_TRUE(loop.remove_writer(s.a));
}

TEST(EventLoopTest, RemoveUnknownFdReturnsFalse) {
  EventLoop loop;
  EXPECT_FALSE(loop.remove_reader(12345));
  EXPECT_FALSE(loop.remove_writer(12345));
}

TEST(EventLoopTest, AddReaderOnABadFdThrows) {
  EventLoop loop;
  int fd;
  {
    Pipe p;
    fd = p.r;
  }  // closed
  EXPECT_THROW(loop.add_reader(fd, [] {}), std::system_error);
  EXPECT_FALSE(loop.remove_reader(fd));
}

TEST(EventLoopTest, CloseReleasesFdWatchers) {
  auto payload = std::make_shared<int>(0);
  Pipe p;
  {
    EventLoop loop;
    loop.add_reader(p.r, [payload] {});
    loop.add_writer(p.w, [payload] {});
    EXPECT_EQ(payload.use_count(), 3);
    loop.close();
    EXPECT_EQ(payload.use_count(), 1);
  }
}

// ---- Threads ---------------------------------------------------------------------------------

TEST(EventLoopThreadTest, CallSoonThreadsafeWakesABlockedLoop) {
  EventLoop loop;
  std::atomic<bool> loop_started{false};
  std::thread::id ran_on;
  bool timed_out = false;
  auto guard = safety_stop(loop, timed_out, 30s);
  loop.call_soon([&] { loop_started = true; });
  std::thread other([&] {
    while (!loop_started) std::this_thread::sleep_for(1ms);
    // Give the loop time to block in epoll_wait (it has nothing else to do).
    std::this_thread::sleep_for(30ms);
    loop.call_soon_threadsafe(
        [&](int v) {
          EXPECT_EQ(v, 5);
          ran_on = std::this_thread::get_id();
          loop.stop();
        },
        5);
  });
  const double start = loop.time();
  loop.run_forever();
  const double elapsed = loop.time() - start;
  other.join();
  guard.cancel();
  EXPECT_FALSE(timed_out);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_LT(elapsed, 10.0);  // woken long before the safety timer
}

TEST(EventLoopThreadTest, CallSoonThreadsafeFromManyThreads) {
  EventLoop loop;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  int received = 0;
  std::vector<int> last_seen(kThreads, -1);
  bool in_order = true;
  bool timed_out = false;
  auto guard = safety_stop(loop, timed_out, 30s);
  std::vector<std::thread> threads;
  loop.call_soon([&] {
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          loop.call_soon_threadsafe([&, t, i] {
            // Callbacks from one thread keep their order.
            if (last_seen[static_cast<std::size_t>(t)] != i - 1) in_order = false;
            last_seen[static_cast<std::size_t>(t)] = i;
            if (++received == kThreads * kPerThread) loop.stop();
          });
        }
      });
    }
  });
  loop.run_forever();
  for (auto& th : threads) th.join();
  guard.cancel();
  EXPECT_FALSE(timed_out);
  EXPECT_EQ(received, kThreads * kPerThread);
  EXPECT_TRUE(in_order);
}

TEST(EventLoopThreadTest, HandleFromCallSoonThreadsafeCanBeCancelled) {
  EventLoop loop;
  int calls = 0;
  asyncio::Handle h;
  std::thread other([&] { h = loop.call_soon_threadsafe([&] { ++calls; }); });
  other.join();
  h.cancel();
  run_once(loop);
  EXPECT_EQ(calls, 0);
}

TEST(EventLoopThreadTest, DebugModeRejectsCallSoonFromAnotherThread) {
  EventLoop loop;
  loop.set_debug(true);
  std::string error, timer_error;
  std::thread other;
  loop.call_soon([&] {
    other = std::thread([&] {
      try {
        loop.call_soon([] {});
      } catch (const asyncio::RuntimeError& e) {
        error = e.what();
      }
      try {
        loop.call_later(1s, [] {});
      } catch (const asyncio::RuntimeError& e) {
        timer_error = e.what();
      }
      loop.call_soon_threadsafe([&] { loop.stop(); });
    });
  });
  bool timed_out = false;
  auto guard = safety_stop(loop, timed_out, 30s);
  loop.run_forever();
  other.join();
  guard.cancel();
  EXPECT_FALSE(timed_out);
  EXPECT_NE(error.find("Non-thread-safe operation"), std::string::npos) << error;
  EXPECT_NE(timer_error.find("Non-thread-safe operation"), std::string::npos) << timer_error;
}

TEST(EventLoopThreadTest, CallSoonThreadsafeOnAClosedLoopRaises) {
  EventLoop loop;
  loop.close();
  std::string error;
  std::thread other([&] {
    try {
      loop.call_soon_threadsafe([] {});
    } catch (const asyncio::RuntimeError& e) {
      error = e.what();
    }
  });
  other.join();
  EXPECT_EQ(error, "Event loop is closed");
}
