// Tests of loop.add_signal_handler/remove_signal_handler and of Ctrl-C in asyncio::run()
// (Python: test_asyncio/test_unix_events.py SelectorEventLoopSignalTests, test_runners.py
// test_signal_install_not_supported_ok / test_interrupt_*). Real signals, no mocks. Tests whose
// process could be killed by a wrong result (SIGINT in run()) run in a forked child.

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/events.hpp"
#include "asyncio/futures.hpp"
#include "asyncio/runners.hpp"
#include "asyncio/tasks.hpp"
#include "asyncio/unix_events.hpp"

using namespace std::chrono_literals;
using asyncio::EventLoop;

namespace {

int open_fd_count() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

bool is_default(int sig) {
  return asyncio::detail::has_default_disposition(sig);
}

/// Runs the loop until `done` or 5 s (then fails).
void run_until(EventLoop& loop, const std::function<bool()>& done) {
  const double deadline = loop.time() + 5.0;
  while (!done() && loop.time() < deadline) {
    loop.call_soon([&loop] { loop.stop(); });
    loop.run_forever();
    if (!done()) std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(done()) << "timed out";
}

/// Forks; the child runs `body` (with a 20 s alarm as a safety net) and exits with its
/// return value. Returns the child's exit code, or 1000 + the signal that killed it.
int in_child(const std::function<int()>& body) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::alarm(20);
    int code = 99;
    try {
      code = body();
    } catch (...) {
      code = 98;
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 1000 + WTERMSIG(status);
  return -2;
}

}  // namespace

// ---- add_signal_handler / remove_signal_handler -------------------------------------------

TEST(SignalHandlers, InvalidSignalNumbersThrowValueError) {
  EventLoop loop;
  for (int sig : {0, -1, NSIG, NSIG + 10, 32, 33}) {
    EXPECT_THROW(loop.add_signal_handler(sig, [] {}), asyncio::ValueError) << sig;
    EXPECT_THROW(loop.remove_signal_handler(sig), asyncio::ValueError) << sig;
  }
  try {
    loop.add_signal_handler(1000, [] {});
    FAIL();
  } catch (const asyncio::ValueError& e) {
    EXPECT_STREQ(e.what(), "invalid signal number 1000");
  }
}

TEST(SignalHandlers, UncatchableSignalsThrowRuntimeError) {
  EventLoop loop;
  const int before = open_fd_count();
  for (int sig : {SIGKILL, SIGSTOP}) {
    try {
      loop.add_signal_handler(sig, [] {});
      FAIL() << sig;
    } catch (const asyncio::RuntimeError& e) {
      EXPECT_EQ(std::string(e.what()), "sig " + std::to_string(sig) + " cannot be caught");
    }
    EXPECT_FALSE(loop.remove_signal_handler(sig));
  }
  EXPECT_EQ(open_fd_count(), before);  // the self-pipe made for the attempt is gone
}

TEST(SignalHandlers, ClosedLoopRejectsHandlers) {
  EventLoop loop;
  loop.close();
  EXPECT_THROW(loop.add_signal_handler(SIGUSR1, [] {}), asyncio::RuntimeError);
  EXPECT_TRUE(is_default(SIGUSR1));
}

TEST(SignalHandlers, SigtermSentToOurselvesReachesTheHandler) {
  EventLoop loop;
  std::vector<int> got;
  loop.add_signal_handler(
      SIGTERM, [&got](int a, int b) { got.push_back(a + b); }, 40, 2);
  EXPECT_FALSE(is_default(SIGTERM));
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  run_until(loop, [&] { return got.size() == 1; });
  ASSERT_EQ(::raise(SIGTERM), 0);
  run_until(loop, [&] { return got.size() == 2; });
  EXPECT_EQ(got, (std::vector<int>{42, 42}));
  EXPECT_TRUE(loop.remove_signal_handler(SIGTERM));
  EXPECT_TRUE(is_default(SIGTERM));
  EXPECT_FALSE(loop.remove_signal_handler(SIGTERM));
}

TEST(SignalHandlers, HandlerRunsInsideRunningTaskLoop) {
  // The usual shape: a task waits for a future that a signal handler resolves.
  int result = asyncio::run([]() -> asyncio::Coro<int> {
    EventLoop& loop = asyncio::get_running_loop();
    auto stop = loop.create_future<int>();
    loop.add_signal_handler(SIGUSR1, [stop] {
      if (!stop.done()) stop.set_result(SIGUSR1);
    });
    loop.call_soon([] { ::kill(::getpid(), SIGUSR1); });
    int sig = co_await stop;
    EXPECT_TRUE(loop.remove_signal_handler(SIGUSR1));
    co_return sig;
  }());
  EXPECT_EQ(result, SIGUSR1);
  EXPECT_TRUE(is_default(SIGUSR1));
}

TEST(SignalHandlers, ReplacingAHandlerKeepsOneRegistration) {
  EventLoop loop;
  int first = 0;
  int second = 0;
  loop.add_signal_handler(SIGUSR1, [&] { ++first; });
  loop.add_signal_handler(SIGUSR1, [&] { ++second; });
  ::raise(SIGUSR1);
  run_until(loop, [&] { return second == 1; });
  EXPECT_EQ(first, 0);
  EXPECT_TRUE(loop.remove_signal_handler(SIGUSR1));
  EXPECT_FALSE(loop.remove_signal_handler(SIGUSR1));
}

TEST(SignalHandlers, SeveralSignalsAndRepeatedDelivery) {
  EventLoop loop;
  int usr1 = 0;
  int usr2 = 0;
  loop.add_signal_handler(SIGUSR1, [&] { ++usr1; });
  loop.add_signal_handler(SIGUSR2, [&] { ++usr2; });
  for (int i = 0; i < 3; ++i) {
    ::raise(SIGUSR1);
    ::raise(SIGUSR2);
  }
  // One callback per delivered signal (each raise() is delivered before it returns).
  run_until(loop, [&] { return usr1 == 3 && usr2 == 3; });
  EXPECT_TRUE(loop.remove_signal_handler(SIGUSR1));
  ::raise(SIGUSR2);
  run_until(loop, [&] { return usr2 == 4; });
  EXPECT_TRUE(loop.remove_signal_handler(SIGUSR2));
}

TEST(SignalHandlers, CallbackExceptionGoesToExceptionHandler) {
  EventLoop loop;
  std::vector<std::string> reports;
  loop.set_exception_handler([&](EventLoop&, const asyncio::ExceptionContext& c) {
    reports.push_back(c.message + ": " + asyncio::describe(c.exception));
  });
  int after = 0;
  loop.add_signal_handler(SIGUSR1, [] { throw std::runtime_error("boom"); });
  ::raise(SIGUSR1);
  loop.call_later(0.01s, [&] { ++after; });
  run_until(loop, [&] { return !reports.empty() && after == 1; });
  EXPECT_EQ(reports.at(0), "Exception in callback: boom");
  loop.remove_signal_handler(SIGUSR1);
}

TEST(SignalHandlers, CloseRestoresDefaultsAndUsesNoFd) {
  const int before = open_fd_count();
  {
    EventLoop loop;
    EXPECT_EQ(open_fd_count(), before + 2);  // epoll + eventfd
    loop.add_signal_handler(SIGUSR1, [] {});
    loop.add_signal_handler(SIGUSR2, [] {});
    EXPECT_EQ(open_fd_count(), before + 2);  // signals wake the loop through its eventfd
    EXPECT_FALSE(is_default(SIGUSR1));
    loop.close();
    EXPECT_TRUE(is_default(SIGUSR1));
    EXPECT_TRUE(is_default(SIGUSR2));
  }
  EXPECT_EQ(open_fd_count(), before);
  {
    EventLoop loop;
    loop.add_signal_handler(SIGUSR1, [] {});
    EXPECT_TRUE(loop.remove_signal_handler(SIGUSR1));
    EXPECT_TRUE(is_default(SIGUSR1));
  }
}

TEST(SignalHandlers, WakesALoopBlockedWithoutTimersFromAnotherThread) {
  // Nothing to do and no timer: the loop blocks in epoll_wait until the signal wakes it.
  EventLoop loop;
  int got = 0;
  loop.add_signal_handler(SIGUSR1, [&] {
    ++got;
    loop.stop();
  });
  pid_t self = ::getpid();
  std::thread killer([self] {
    std::this_thread::sleep_for(50ms);
    ::kill(self, SIGUSR1);
  });
  loop.run_forever();
  killer.join();
  EXPECT_EQ(got, 1);
  loop.remove_signal_handler(SIGUSR1);
}

TEST(SignalHandlers, BusyLoopStillSeesSignals) {
  // A loop that always has callbacks ready (never blocks) must see signals too.
  EventLoop loop;
  int got = 0;
  long spins = 0;
  std::function<void()> spin = [&] {
    ++spins;
    if (spins == 100) ::raise(SIGUSR2);
    if (got == 0 && spins < 10000000)
      loop.call_soon(spin);
    else
      loop.stop();
  };
  loop.add_signal_handler(SIGUSR2, [&] { ++got; });
  loop.call_soon(spin);
  loop.run_forever();
  EXPECT_EQ(got, 1);
  EXPECT_LT(spins, 110);
  loop.remove_signal_handler(SIGUSR2);
}

TEST(SignalHandlers, SignalArrivingAfterRemovalIsIgnored) {
  EventLoop loop;
  int calls = 0;
  loop.add_signal_handler(SIGUSR1, [&] { ++calls; });
  loop.add_signal_handler(SIGUSR2, [] {});
  // Ignore SIGUSR1 after removal so the raise() below cannot kill the test.
  EXPECT_TRUE(loop.remove_signal_handler(SIGUSR1));
  ::signal(SIGUSR1, SIG_IGN);
  ::raise(SIGUSR1);
  int ticks = 0;
  loop.call_later(0.02s, [&] { ++ticks; });
  run_until(loop, [&] { return ticks == 1; });
  EXPECT_EQ(calls, 0);
  ::signal(SIGUSR1, SIG_DFL);
  loop.remove_signal_handler(SIGUSR2);
}

// ---- Threads ---------------------------------------------------------------------------------

TEST(SignalHandlers, SignalDeliveredToAnotherThreadReachesTheLoop) {
  // The loop thread blocks SIGUSR1, so the kernel can only run the C handler in the helper
  // thread, which raises it on itself: the self-pipe carries it to the loop thread.
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &old), 0);
  {
    EventLoop loop;
    std::atomic<int> handled_on_loop_thread{0};
    const auto loop_thread = std::this_thread::get_id();
    loop.add_signal_handler(SIGUSR1, [&] {
      if (std::this_thread::get_id() == loop_thread) ++handled_on_loop_thread;
    });
    std::thread sender([] {
      sigset_t unblock;  // a new thread inherits the creator's mask
      sigemptyset(&unblock);
      sigaddset(&unblock, SIGUSR1);
      ::pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
      for (int i = 0; i < 3; ++i) ::raise(SIGUSR1);  // thread-directed: runs the handler here
    });
    sender.join();
    run_until(loop, [&] { return handled_on_loop_thread.load() == 3; });
    loop.remove_signal_handler(SIGUSR1);
  }
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, &old, nullptr), 0);
}

TEST(SignalHandlers, LoopsInSeveralThreadsEachOwnTheirSignals) {
  std::atomic<int> phase{0};
  std::atomic<int> usr2_calls{0};
  std::string conflict;
  std::thread other([&] {
    EventLoop loop;
    loop.add_signal_handler(SIGUSR2, [&] { ++usr2_calls; });
    phase = 1;
    while (phase.load() < 2) std::this_thread::sleep_for(1ms);
    ::raise(SIGUSR2);  // this thread's handler writes this loop's pipe
    run_until(loop, [&] { return usr2_calls.load() == 1; });
    loop.close();  // restores SIGUSR2
    phase = 3;
  });
  while (phase.load() < 1) std::this_thread::sleep_for(1ms);
  {
    EventLoop loop;
    try {
      loop.add_signal_handler(SIGUSR2, [] {});
    } catch (const asyncio::RuntimeError& e) {
      conflict = e.what();
    }
    int usr1 = 0;
    loop.add_signal_handler(SIGUSR1, [&] { ++usr1; });
    phase = 2;
    ::raise(SIGUSR1);
    run_until(loop, [&] { return usr1 == 1; });
    while (phase.load() < 3) std::this_thread::sleep_for(1ms);
    // Now that the other loop is closed, SIGUSR2 is free again.
    loop.add_signal_handler(SIGUSR2, [] {});
    EXPECT_TRUE(loop.remove_signal_handler(SIGUSR2));
    EXPECT_TRUE(loop.remove_signal_handler(SIGUSR1));
  }
  other.join();
  EXPECT_EQ(conflict,
            "signal " + std::to_string(SIGUSR2) + " is already handled by another event loop");
  EXPECT_EQ(usr2_calls.load(), 1);
  EXPECT_TRUE(is_default(SIGUSR1));
  EXPECT_TRUE(is_default(SIGUSR2));
}

TEST(RunnerSigint, RunFromAnotherThreadLeavesSigintAloneThread) {
  bool default_inside = false;
  std::thread t([&] {
    asyncio::run([&]() -> asyncio::Coro<> {
      default_inside = is_default(SIGINT);
      co_return;
    }());
  });
  t.join();
  EXPECT_TRUE(default_inside);
}

// ---- Ctrl-C in asyncio::run (forked children: a mistake must not kill the test binary) ----

TEST(RunnerSigint, HandlerInstalledOnlyDuringRun) {
  ASSERT_TRUE(is_default(SIGINT));
  bool default_inside = true;
  asyncio::run([&]() -> asyncio::Coro<> {
    default_inside = is_default(SIGINT);
    co_return;
  }());
  EXPECT_FALSE(default_inside);
  EXPECT_TRUE(is_default(SIGINT));
}

TEST(RunnerSigint, NotInstalledWhenSigintIsNotDefault) {
  ::signal(SIGINT, SIG_IGN);
  bool ignored_inside = false;
  asyncio::run([&]() -> asyncio::Coro<> {
    struct sigaction sa {};
    ::sigaction(SIGINT, nullptr, &sa);
    ignored_inside = sa.sa_handler == SIG_IGN;
    co_return;
  }());
  struct sigaction sa {};
  ::sigaction(SIGINT, nullptr, &sa);
  EXPECT_TRUE(sa.sa_handler == SIG_IGN);
  ::signal(SIGINT, SIG_DFL);
  EXPECT_TRUE(ignored_inside);
}

TEST(RunnerSigint, FirstSigintCancelsMainTaskThenKeyboardInterrupt) {
  int code = in_child([] {
    bool cleanup_ran = false;
    try {
      asyncio::run([&]() -> asyncio::Coro<> {
        ::kill(::getpid(), SIGINT);  // delivered before kill() returns
        try {
          co_await asyncio::sleep(10s);
        } catch (const asyncio::CancelledError&) {
          cleanup_ran = true;
          throw;
        }
      }());
    } catch (const asyncio::KeyboardInterrupt&) {
      if (!cleanup_ran) return 2;
      return is_default(SIGINT) ? 0 : 3;
    } catch (const asyncio::CancelledError&) {
      return 4;
    }
    return 5;
  });
  EXPECT_EQ(code, 0);
}

TEST(RunnerSigint, CleanupMayAwaitBeforeKeyboardInterrupt) {
  int code = in_child([] {
    int steps = 0;
    try {
      asyncio::run([&]() -> asyncio::Coro<> {
        asyncio::get_running_loop().call_later(0.01s, [] { ::raise(SIGINT); });
        try {
          co_await asyncio::sleep(10s);
        } catch (const asyncio::CancelledError&) {
          ++steps;
        }
        co_await asyncio::sleep(0.01s);  // cleanup that awaits
        ++steps;
        throw asyncio::CancelledError();  // re-raise, as `raise` in an except block
      }());
    } catch (const asyncio::KeyboardInterrupt&) {
      return steps == 2 ? 0 : 10 + steps;
    }
    return 5;
  });
  EXPECT_EQ(code, 0);
}

TEST(RunnerSigint, MainTaskThatSwallowsTheCancelReturnsNormally) {
  int code = in_child([] {
    int result = asyncio::run([]() -> asyncio::Coro<int> {
      ::raise(SIGINT);
      try {
        co_await asyncio::sleep(10s);
      } catch (const asyncio::CancelledError&) {
        co_return 42;  // as Python: the task is not cancelled, run() returns its result
      }
      co_return 0;
    }());
    return result == 42 ? 0 : 1;
  });
  EXPECT_EQ(code, 0);
}

TEST(RunnerSigint, OtherPendingCancellationKeepsCancelledError) {
  // Python: KeyboardInterrupt only if uncancel() == 0, i.e. SIGINT was the only canceller.
  int code = in_child([] {
    try {
      asyncio::run([]() -> asyncio::Coro<> {
        ::raise(SIGINT);
        try {
          co_await asyncio::sleep(10s);
        } catch (const asyncio::CancelledError&) {
          asyncio::current_task().cancel();  // a second, unrelated cancellation request
          throw;
        }
      }());
    } catch (const asyncio::KeyboardInterrupt&) {
      return 1;
    } catch (const asyncio::CancelledError&) {
      return 0;
    }
    return 2;
  });
  EXPECT_EQ(code, 0);
}

TEST(RunnerSigint, SecondSigintInterruptsAtOnce) {
  int code = in_child([] {
    bool finished_cleanup = false;
    asyncio::Runner runner;
    try {
      runner.run([&]() -> asyncio::Coro<> {
        ::raise(SIGINT);
        try {
          co_await asyncio::sleep(10s);
        } catch (const asyncio::CancelledError&) {
        }
        // A slow cleanup: the second Ctrl-C must not wait for it.
        asyncio::get_running_loop().call_later(0.01s, [] { ::raise(SIGINT); });
        co_await asyncio::sleep(10s);
        finished_cleanup = true;
      }());
    } catch (const asyncio::KeyboardInterrupt&) {
      if (finished_cleanup) return 1;
      if (!is_default(SIGINT)) return 2;
      runner.close();  // cancels the still pending main task (its sleep)
      return 0;
    }
    return 3;
  });
  EXPECT_EQ(code, 0);
}

TEST(RunnerSigint, UserSigintHandlerReplacesTheRunners) {
  int code = in_child([] {
    int mine = 0;
    asyncio::run([&]() -> asyncio::Coro<> {
      EventLoop& loop = asyncio::get_running_loop();
      auto got = loop.create_future<>();
      loop.add_signal_handler(SIGINT, [&mine, got] {
        ++mine;
        if (!got.done()) got.set_result();
      });
      ::raise(SIGINT);
      co_await got;  // not cancelled: the program's handler replaced the runner's
    }());
    // The runner leaves the program's handler alone; loop.close() removed it.
    return mine == 1 && is_default(SIGINT) ? 0 : 1;
  });
  EXPECT_EQ(code, 0);
}

TEST(RunnerSigint, UnhandledKeyboardInterruptKillsNothingElse) {
  // Sanity check of the harness itself: a child killed by SIGINT is reported as such.
  int code = in_child([] {
    ::raise(SIGINT);
    return 0;
  });
  EXPECT_EQ(code, 1000 + SIGINT);
}

// ---- Ctrl-C on a loop run by hand (Python: default_int_handler's KeyboardInterrupt) --------

TEST(LoopSigint, RunForeverByHandThrowsKeyboardInterrupt) {
  int code = in_child([] {
    EventLoop loop;
    bool inside_default = true;
    loop.call_soon([&] { inside_default = is_default(SIGINT); });
    loop.call_later(0.01s, [] { ::raise(SIGINT); });
    loop.call_later(10s, [&loop] { loop.stop(); });
    try {
      loop.run_forever();
    } catch (const asyncio::KeyboardInterrupt&) {
      if (inside_default || loop.is_running()) return 2;
      if (!is_default(SIGINT)) return 3;  // restored on the way out
      loop.close();
      return 0;
    }
    return 4;
  });
  EXPECT_EQ(code, 0);
}

TEST(LoopSigint, RunUntilCompleteByHandThrowsKeyboardInterruptTaskStaysPending) {
  int code = in_child([] {
    EventLoop loop;
    auto task = loop.create_task([]() -> asyncio::Coro<> { co_await asyncio::sleep(10s); }());
    loop.call_later(0.01s, [] { ::raise(SIGINT); });
    try {
      loop.run_until_complete(task);
    } catch (const asyncio::KeyboardInterrupt&) {
      if (task.done()) return 2;  // as Python: the interrupt leaves the task pending
      // The loop can run again: a later SIGINT-free run completes normally.
      task.cancel();
      try {
        loop.run_until_complete(task);
      } catch (const asyncio::CancelledError&) {
      }
      loop.close();
      return is_default(SIGINT) ? 0 : 3;
    }
    return 4;
  });
  EXPECT_EQ(code, 0);
}

TEST(LoopSigint, LeftAloneOutsideTheMainThreadAndWhenNotDefault) {
  bool default_inside = false;
  std::thread t([&] {
    EventLoop loop;
    loop.call_soon([&] {
      default_inside = is_default(SIGINT);
      loop.stop();
    });
    loop.run_forever();
    loop.close();
  });
  t.join();
  EXPECT_TRUE(default_inside);

  ::signal(SIGINT, SIG_IGN);
  bool ignored_inside = false;
  {
    EventLoop loop;
    loop.call_soon([&] {
      struct sigaction sa {};
      ::sigaction(SIGINT, nullptr, &sa);
      ignored_inside = sa.sa_handler == SIG_IGN;
      loop.stop();
    });
    loop.run_forever();
    loop.close();
  }
  ::signal(SIGINT, SIG_DFL);
  EXPECT_TRUE(ignored_inside);
}
