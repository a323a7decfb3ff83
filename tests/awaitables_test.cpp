// Every awaitable the library returns composes with every combinator, as in asyncio (issue 10,
// items 1 and 3), and a coroutine never awaited is reported (item 2).
//
// The semantics asserted were first run under CPython 3.12.1:
//   lock = Lock(); await lock.acquire()
//   await wait_for(lock.acquire(), 0.05)   -> TimeoutError; lock still held, no waiter left
//   lock.release(); lock.locked()          -> False (the timed-out acquire did not take it)
//   await wait_for(free_lock.acquire(), 0) -> TimeoutError (ensure_future + cancel before it
//                                             runs), lock not taken
//   await wait_for(sem.acquire(), 0.02)    -> TimeoutError, value stays 0
//   async with cond: wait_for(cond.wait(), 0.02) -> TimeoutError, lock held again
//   wait_for(q.get(), 0.02)                -> TimeoutError, no getter left; the next put item
//                                             goes to the next get
//   shield(q.get()) cancelled              -> the inner get still takes the next item
//   gather(to_thread(lambda: 42), sleep(0.01)) -> [42, None]
//   create_task(sleep(0.01, 'r'))          -> 'r'; ensure_future(sleep(...)) is a Task
//   async with timeout(0.02): await lock.acquire() -> TimeoutError, lock not taken
//   wait_for(loop.sock_recv(a, 10), 0.02)  -> TimeoutError; later b'hi'
//   wait_for(p.wait(), 0.05)               -> TimeoutError, returncode None; kill -> -9
//   lock.acquire(), sem.acquire(), event.wait(), cond.wait() -> True; cond.wait_for(f) -> f()
//   a coroutine object never awaited       -> "coroutine 'f' was never awaited"
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "asyncio/asyncio.hpp"
#include "hl_helpers.hpp"

using namespace std::chrono_literals;

namespace {

using namespace hltest;
using asyncio::CancelledError;
using asyncio::Coro;
using asyncio::TimeoutError;

static_assert(asyncio::Awaitable<Coro<int>>);
static_assert(asyncio::Awaitable<asyncio::Task<int>>);
static_assert(asyncio::Awaitable<asyncio::Future<int>>);
static_assert(asyncio::Awaitable<decltype(asyncio::sleep(1s))>);
static_assert(asyncio::Awaitable<decltype(std::declval<asyncio::Lock&>().acquire())>);
static_assert(asyncio::Awaitable<decltype(std::declval<asyncio::Queue<int>&>().get())>);
static_assert(asyncio::Awaitable<decltype(asyncio::sock_recv(0, 1))>);
static_assert(!asyncio::Awaitable<int>);
static_assert(!asyncio::Awaitable<std::string>);
static_assert(std::is_same_v<asyncio::await_result_t<decltype(asyncio::sleep(1s, 3))>, int>);
// Item 3: Python's acquire()/wait() return True.
static_assert(std::is_same_v<
              asyncio::await_result_t<decltype(std::declval<asyncio::Lock&>().acquire())>, bool>);
static_assert(
    std::is_same_v<asyncio::await_result_t<decltype(std::declval<asyncio::Semaphore&>().acquire())>,
                   bool>);
static_assert(std::is_same_v<
              asyncio::await_result_t<decltype(std::declval<asyncio::Event&>().wait())>, bool>);
static_assert(std::is_same_v<
              asyncio::await_result_t<decltype(std::declval<asyncio::Condition&>().wait())>, bool>);
// Awaiters are movable until awaited (docs/internals.md).
static_assert(std::is_move_constructible_v<decltype(std::declval<asyncio::Lock&>().acquire())>);
static_assert(std::is_move_constructible_v<decltype(asyncio::sock_accept(0))>);

template <class T>
using Slot = asyncio::detail::non_void_t<T>;

// Runs every combinator on fresh awaitables from `make` (each must complete without help, or
// with the help `check` gives after each result) and hands each result to `check`.
template <class Make, class Check>
Coro<> every_combinator(Make make, Check check) {
  using A = decltype(make());
  using T = asyncio::await_result_t<A>;
  // wait_for / timeout: run in this task.
  if constexpr (std::is_void_v<T>) {
    co_await asyncio::wait_for(make(), 5s);
    check(Slot<T>{});
    co_await asyncio::timeout(5s, make());
    check(Slot<T>{});
  } else {
    check(co_await asyncio::wait_for(make(), 5s));
    check(co_await asyncio::timeout(5s, make()));
  }
  // gather: variadic, return_exceptions, vector.
  check(std::move(std::get<0>(co_await asyncio::gather(make()))));
  {
    auto [o] = co_await asyncio::gather(asyncio::return_exceptions, make());
    EXPECT_TRUE(o.has_value());
    check(std::move(o.value()));
  }
  {
    std::vector<A> v;
    v.push_back(make());
    auto r = co_await asyncio::gather(std::move(v));
    EXPECT_EQ(r.size(), 1u);
    check(std::move(r[0]));
  }
  // shield: a future completing like the inner task.
  {
    auto f = asyncio::shield(make());
    if constexpr (std::is_void_v<T>) {
      co_await f;
      check(Slot<T>{});
    } else {
      check(co_await std::move(f));
    }
  }
  // ensure_future: the handle itself for futures, a new task otherwise.
  {
    auto f = asyncio::ensure_future(make());
    if constexpr (std::is_void_v<T>) {
      co_await f;
      check(Slot<T>{});
    } else {
      check(co_await std::move(f));
    }
  }
  // create_task / TaskGroup::create_task: coroutines and awaiters only (Python's TypeError for
  // futures).
  if constexpr (!asyncio::detail::is_future_handle_v<A>) {
    auto t = asyncio::create_task(make(), "wrapped");
    EXPECT_EQ(t.get_name(), "wrapped");
    if constexpr (std::is_void_v<T>) {
      co_await t;
      check(Slot<T>{});
    } else {
      check(co_await std::move(t));
    }
    co_await asyncio::task_group([&](asyncio::TaskGroup& g) -> Coro<> {
      auto child = g.create_task(make());
      if constexpr (std::is_void_v<T>) {
        co_await child;
        check(Slot<T>{});
      } else {
        check(co_await std::move(child));
      }
    });
  }
  // as_completed.
  {
    std::vector<A> v;
    v.push_back(make());
    for (auto& next : asyncio::as_completed(std::move(v), 5s)) {
      if constexpr (std::is_void_v<T>) {
        co_await std::move(next);
        check(Slot<T>{});
      } else {
        check(co_await std::move(next));
      }
    }
  }
}

// Results every_combinator() checks: 10 for coroutines and awaiters, 8 for futures.
constexpr int kChecks = 10;

Coro<> notify_one(asyncio::Condition& cond) {
  auto g = co_await cond.lock();
  cond.notify();
}

Coro<int> shielded_get(asyncio::Queue<int>& q) {
  co_return co_await asyncio::shield(q.get());
}

Coro<int> forty_two() {
  co_return 42;
}

TEST(Awaitables, CoroTaskFuture) {
  run_main([]() -> Coro<> {
    int n = 0;
    auto is42 = [&](int v) {
      EXPECT_EQ(v, 42);
      ++n;
    };
    co_await every_combinator([] { return forty_two(); }, is42);
    co_await every_combinator([] { return asyncio::create_task(forty_two()); }, is42);
    co_await every_combinator(
        [] {
          auto f = asyncio::get_running_loop().create_future<int>();
          f.set_result(42);
          return f;
        },
        is42);
    EXPECT_EQ(n, 3 * kChecks - 2 * 2);  // futures skip create_task and TaskGroup::create_task
  });
}

TEST(Awaitables, SleepAndToThread) {
  run_main([]() -> Coro<> {
    int n = 0;
    co_await every_combinator([] { return asyncio::sleep(1ms); }, [&](asyncio::Void) { ++n; });
    co_await every_combinator([] { return asyncio::sleep(1ms, std::string("r")); },
                              [&](const std::string& r) {
                                EXPECT_EQ(r, "r");
                                ++n;
                              });
    co_await every_combinator([] { return asyncio::to_thread([] { return 7; }); },
                              [&](int r) {
                                EXPECT_EQ(r, 7);
                                ++n;
                              });
    EXPECT_EQ(n, 3 * kChecks);
  });
}

TEST(Awaitables, SyncPrimitives) {
  run_main([]() -> Coro<> {
    asyncio::Lock lock;
    int n = 0;
    // A free lock: acquire() completes; check() releases it for the next one.
    co_await every_combinator([&] { return lock.acquire(); },
                              [&](bool r) {
                                EXPECT_TRUE(r);
                                EXPECT_TRUE(lock.locked());
                                lock.release();
                                ++n;
                              });
    co_await every_combinator([&] { return lock.lock(); },
                              [&](asyncio::LockGuard g) {
                                EXPECT_TRUE(g.owns_lock());
                                ++n;
                              });
    EXPECT_FALSE(lock.locked());
    asyncio::Semaphore sem(1);
    co_await every_combinator([&] { return sem.acquire(); },
                              [&](bool r) {
                                EXPECT_TRUE(r);
                                sem.release();
                                ++n;
                              });
    asyncio::BoundedSemaphore bsem(1);
    co_await every_combinator([&] { return bsem.acquire(); },
                              [&](bool r) {
                                EXPECT_TRUE(r);
                                bsem.release();
                                ++n;
                              });
    asyncio::Event ev;
    ev.set();
    co_await every_combinator([&] { return ev.wait(); },
                              [&](bool r) {
                                EXPECT_TRUE(r);
                                ++n;
                              });
    // Condition.wait_for of a predicate that holds: no wait, no lock needed; its value.
    asyncio::Condition cond;
    co_await every_combinator([&] { return cond.wait_for([] { return 7; }); },
                              [&](int r) {
                                EXPECT_EQ(r, 7);
                                ++n;
                              });
    // Condition.wait: the awaiting task holds the lock; a notifier task wakes it.
    {
      auto g = co_await cond.lock();
      auto notifier = asyncio::create_task(notify_one(cond));
      EXPECT_TRUE(co_await asyncio::wait_for(cond.wait(), 5s));
      EXPECT_TRUE(cond.locked());
      co_await notifier;
    }
    // Barrier (a Coro) with one party.
    asyncio::Barrier barrier(1);
    co_await every_combinator([&] { return barrier.wait(); },
                              [&](int i) {
                                EXPECT_EQ(i, 0);
                                ++n;
                              });
    EXPECT_EQ(n, 7 * kChecks);
  });
}

TEST(Awaitables, Queues) {
  run_main([]() -> Coro<> {
    asyncio::Queue<int> q;
    int n = 0;
    // get(): an item is always there (check() puts the next one).
    q.put_nowait(1);
    co_await every_combinator([&] { return q.get(); },
                              [&](int v) {
                                EXPECT_EQ(v, 1);
                                q.task_done();
                                q.put_nowait(1);
                                ++n;
                              });
    EXPECT_EQ(q.get_nowait(), 1);
    q.task_done();
    // put(): unbounded, so it completes; check() takes the item back.
    co_await every_combinator([&] { return q.put(5); },
                              [&](asyncio::Void) {
                                EXPECT_EQ(q.get_nowait(), 5);
                                q.task_done();
                                ++n;
                              });
    // join(): nothing outstanding.
    co_await every_combinator([&] { return q.join(); }, [&](asyncio::Void) { ++n; });
    EXPECT_EQ(n, 3 * kChecks);
  });
}

std::pair<asyncio::Socket, asyncio::Socket> socket_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
    throw std::runtime_error("socketpair");
  return {asyncio::Socket(fds[0]), asyncio::Socket(fds[1])};
}

TEST(Awaitables, SocketOperations) {
  run_main([]() -> Coro<> {
    auto pair = socket_pair();
    const int a = pair.first.fd(), b = pair.second.fd();
    int n = 0;
    // sock_sendall then sock_recv of what it sent.
    co_await every_combinator([&] { return asyncio::sock_sendall(a, "hi"); },
                              [&](asyncio::Void) { ++n; });
    co_await every_combinator([&] { return asyncio::sock_recv(b, 2); },
                              [&](const std::string& s) {
                                EXPECT_EQ(s, "hi");
                                ++n;
                              });
    EXPECT_EQ(n, 2 * kChecks);
  });
}

TEST(Awaitables, StreamAndSubprocess) {
  run_main([]() -> Coro<> {
    std::vector<std::string> args{std::string("-c"),
                                  std::string("echo a; echo b; i=0; while [ $i -lt 10 ]; do "
                                              "echo x; i=$((i+1)); done; exec sleep 10")};
    asyncio::SubprocessOptions opts;
    opts.stdout = asyncio::PIPE;
    asyncio::Process p =
        co_await asyncio::create_subprocess_exec(std::string("sh"), std::move(args), opts);
    std::string first = co_await asyncio::wait_for(p.stdout->readline(), 5s);
    EXPECT_EQ(first, "a\n");
    std::tuple<std::string> line = co_await asyncio::gather(p.stdout->readline());
    EXPECT_EQ(std::get<0>(line), "b\n");
    int n = 0;
    co_await every_combinator([&] { return p.stdout->readline(); },
                              [&](const std::string& l) {
                                EXPECT_EQ(l, "x\n");
                                ++n;
                              });
    EXPECT_EQ(n, kChecks);
    // Python: wait_for(p.wait(), 0.05) -> TimeoutError; the child keeps running.
    EXPECT_TRUE(holds<TimeoutError>(co_await error_of(asyncio::wait_for(p.wait(), 50ms))));
    EXPECT_FALSE(p.returncode().has_value());
    p.kill();
    EXPECT_EQ(co_await asyncio::wait_for(asyncio::shield(p.wait()), 5s), -9);
    auto out_err = co_await asyncio::wait_for(p.communicate(), 5s);
    EXPECT_EQ(out_err.first, "");
    // proc.wait() of an exited child, through every combinator.
    co_await every_combinator([&] { return p.wait(); },
                              [&](int code) {
                                EXPECT_EQ(code, -9);
                                ++n;
                              });
    EXPECT_EQ(n, 2 * kChecks);
  });
}

// ---- Timeouts and cancellation through the wrapped awaiters ------------------------------

TEST(Awaitables, WaitForLockAcquireTimesOutWithoutTakingTheLock) {
  run_main([]() -> Coro<> {
    asyncio::Lock lock;
    EXPECT_TRUE(co_await lock.acquire());
    auto e = co_await error_of(asyncio::wait_for(lock.acquire(), 50ms));
    EXPECT_TRUE(holds<TimeoutError>(e));
    EXPECT_TRUE(lock.locked());
    EXPECT_EQ(lock.repr(), "<asyncio::Lock [locked]>");  // no waiter left behind
    lock.release();
    EXPECT_FALSE(lock.locked());
    // Python: a timeout <= 0 wraps the acquire in a task and cancels it before it runs.
    EXPECT_TRUE(holds<TimeoutError>(co_await error_of(asyncio::wait_for(lock.acquire(), 0s))));
    EXPECT_FALSE(lock.locked());
    // Released while waiting: the acquire wins.
    EXPECT_TRUE(co_await lock.acquire());
    asyncio::get_running_loop().call_later(10ms, [&] { lock.release(); });
    EXPECT_TRUE(co_await asyncio::wait_for(lock.acquire(), 5s));
    EXPECT_TRUE(lock.locked());
    lock.release();
    // Python: `async with timeout(0.02): await lock.acquire()` likewise.
    EXPECT_TRUE(co_await lock.acquire());
    EXPECT_TRUE(holds<TimeoutError>(co_await error_of(asyncio::timeout(20ms, lock.acquire()))));
    lock.release();
    EXPECT_FALSE(lock.locked());
  });
}

TEST(Awaitables, WaitForOtherPrimitivesTimeOut) {
  run_main([]() -> Coro<> {
    asyncio::Semaphore sem(0);
    EXPECT_TRUE(holds<TimeoutError>(co_await error_of(asyncio::wait_for(sem.acquire(), 20ms))));
    EXPECT_TRUE(sem.locked());
    sem.release();
    EXPECT_TRUE(co_await asyncio::wait_for(sem.acquire(), 5s));

    asyncio::Event ev;
    EXPECT_TRUE(holds<TimeoutError>(co_await error_of(asyncio::wait_for(ev.wait(), 20ms))));
    asyncio::get_running_loop().call_later(10ms, [&] { ev.set(); });
    EXPECT_TRUE(co_await asyncio::wait_for(ev.wait(), 5s));

    asyncio::Condition cond;
    {
      auto g = co_await cond.lock();
      EXPECT_TRUE(holds<TimeoutError>(co_await error_of(asyncio::wait_for(cond.wait(), 20ms))));
      EXPECT_TRUE(cond.locked());  // the wait re-acquired the lock before raising
    }
    EXPECT_FALSE(cond.locked());

    asyncio::Queue<int> q;
    EXPECT_TRUE(holds<TimeoutError>(co_await error_of(asyncio::wait_for(q.get(), 20ms))));
    q.put_nowait(5);
    EXPECT_EQ(co_await asyncio::wait_for(q.get(), 5s), 5);
    asyncio::Queue<int> full(1);
    full.put_nowait(1);
    EXPECT_TRUE(holds<TimeoutError>(co_await error_of(asyncio::wait_for(full.put(2), 20ms))));
    EXPECT_EQ(full.qsize(), 1u);
    EXPECT_TRUE(holds<TimeoutError>(co_await error_of(asyncio::wait_for(full.join(), 20ms))));

    auto [a, b] = socket_pair();
    EXPECT_TRUE(holds<TimeoutError>(
        co_await error_of(asyncio::wait_for(asyncio::sock_recv(a.fd(), 10), 20ms))));
    co_await asyncio::sock_sendall(b.fd(), "hi");
    std::string got = co_await asyncio::wait_for(asyncio::sock_recv(a.fd(), 10), 5s);
    EXPECT_EQ(got, "hi");
  });
}

TEST(Awaitables, ShieldedQueueGetStillTakesTheItem) {
  run_main([]() -> Coro<> {
    asyncio::Queue<int> q;
    auto outer = asyncio::create_task(shielded_get(q));
    co_await asyncio::sleep(0s);
    outer.cancel();
    EXPECT_TRUE(holds<CancelledError>(co_await error_of(outer)));
    q.put_nowait(9);
    co_await asyncio::sleep(10ms);
    EXPECT_EQ(q.qsize(), 0u);  // Python: the shielded get went on and took it
  });
}

TEST(Awaitables, GatherOfToThreadAndSleep) {
  run_main([]() -> Coro<> {
    // The asyncio docs' example: gather(to_thread(f), sleep(1)).
    auto [v, none] =
        co_await asyncio::gather(asyncio::to_thread([] { return 42; }), asyncio::sleep(10ms));
    EXPECT_EQ(v, 42);
    EXPECT_EQ(none, asyncio::Void{});
    asyncio::Lock lock;
    asyncio::Event ev;
    ev.set();
    auto [l, e, s] = co_await asyncio::gather(lock.acquire(), ev.wait(), asyncio::sleep(0s));
    EXPECT_TRUE(l && e);
    EXPECT_TRUE(lock.locked());
    // A named awaiter is moved from, as a named Coro is.
    asyncio::Queue<int> q;
    q.put_nowait(3);
    auto get = q.get();
    auto nap = asyncio::sleep(1ms, 4);
    auto [g, n] = co_await asyncio::gather(get, nap);
    EXPECT_EQ(g + n, 7);
  });
}

TEST(Awaitables, CancelledWrappedAcquireDoesNotTakeTheLock) {
  run_main([]() -> Coro<> {
    asyncio::Lock lock;
    co_await lock.acquire();
    auto t = asyncio::create_task(lock.acquire());
    co_await asyncio::sleep(0s);
    t.cancel("stop");
    auto e = co_await error_of(t);
    EXPECT_TRUE(holds<CancelledError>(e));
    lock.release();
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(lock.locked());
    // gather of a queue get cancelled: the child task is cancelled.
    asyncio::Queue<int> q;
    auto g = asyncio::gather(q.get());
    co_await asyncio::sleep(0s);
    g.cancel();
    EXPECT_TRUE(holds<CancelledError>(co_await error_of(g)));
    q.put_nowait(1);
    co_await asyncio::sleep(0s);
    EXPECT_EQ(q.qsize(), 1u);
  });
}

TEST(Awaitables, ReturnValuesAreTrue) {
  run_main([]() -> Coro<> {
    asyncio::Lock lock;
    asyncio::Semaphore sem;
    asyncio::Event ev;
    ev.set();
    asyncio::Condition cond;
    EXPECT_TRUE(co_await lock.acquire());
    EXPECT_TRUE(co_await sem.acquire());
    EXPECT_TRUE(co_await ev.wait());
    auto g = co_await cond.lock();
    auto notifier = asyncio::create_task(notify_one(cond));
    EXPECT_TRUE(co_await cond.wait());
    EXPECT_EQ(co_await cond.wait_for([] { return 3; }), 3);
    co_await notifier;
  });
}

// ---- Never awaited -----------------------------------------------------------------------

#if ASYNCIO_COROUTINE_DEBUG
Coro<int> never_run(bool* ran) {
  *ran = true;
  co_return 1;
}

TEST(Awaitables, NeverAwaitedCoroutineIsReported) {
  asyncio::Runner runner;
  std::vector<std::string> reports;
  runner.get_loop().set_exception_handler(
      [&](asyncio::EventLoop&, const asyncio::ExceptionContext& c) {
        reports.push_back(c.message);
      });
  bool ran = false;
  runner.run([&]() -> Coro<> {
    { auto c = never_run(&ran); }  // Python: coroutine object dropped
    co_await never_run(&ran);      // awaited: no report
    co_await asyncio::create_task(never_run(&ran));
    {
      auto moved = never_run(&ran);
      Coro<int> other = std::move(moved);
      co_await other;
    }
    co_return;
  }());
  runner.close();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0], "coroutine 'never_run' was never awaited");
  // Without a running loop: stderr.
  testing::internal::CaptureStderr();
  { auto c = never_run(&ran); }
  EXPECT_NE(testing::internal::GetCapturedStderr().find("coroutine 'never_run' was never awaited"),
            std::string::npos);
}
#endif

}  // namespace
