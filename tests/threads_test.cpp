// Tests of to_thread, run_in_executor, ThreadPoolExecutor, ConcurrentFuture, wrap_future,
// run_coroutine_threadsafe and call_soon_threadsafe (Python: test_asyncio/test_threads.py,
// parts of test_base_events.py, test_futures.py and test_tasks.py). Every test touches
// threads, so every suite name contains "Thread" (the TSan preset runs exactly those).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/concurrent_future.hpp"
#include "asyncio/events.hpp"
#include "asyncio/executor.hpp"
#include "asyncio/futures.hpp"
#include "asyncio/runners.hpp"
#include "asyncio/tasks.hpp"
#include "asyncio/threads.hpp"

using namespace std::chrono_literals;
using asyncio::ConcurrentFuture;
using asyncio::Coro;
using asyncio::EventLoop;
using asyncio::Task;
using asyncio::ThreadPoolExecutor;

namespace {

/// A one-shot gate threads can wait on, with a timeout so that a broken test cannot hang.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(m_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool wait(std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, timeout, [this] { return open_; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool open_ = false;
};

/// Polls `cond` on the loop (yielding 1 ms at a time) until true or `timeout`; returns it.
template <class F>
Coro<bool> wait_until(F cond, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    co_await asyncio::sleep(1ms);
  }
  co_return true;
}

template <class T>
Coro<bool> ends_cancelled(Task<T> t) {
  try {
    co_await t;
  } catch (const asyncio::CancelledError&) {
    co_return true;
  }
  co_return false;
}

/// Counts live instances, to prove a dropped result is destroyed (and only once).
struct Tracked {
  static inline std::atomic<int> live{0};
  int value;
  explicit Tracked(int v) : value(v) { ++live; }
  Tracked(const Tracked& o) : value(o.value) { ++live; }
  ~Tracked() { --live; }
};

}  // namespace

// ---- to_thread ---------------------------------------------------------------------------------

TEST(ThreadsTest, ToThreadReturnsTheResultFromAnotherThread) {
  asyncio::run([]() -> Coro<> {
    const std::thread::id loop_thread = std::this_thread::get_id();
    std::thread::id worker_thread;
    int sum = co_await asyncio::to_thread(
        [&worker_thread](int a, int b) {
          worker_thread = std::this_thread::get_id();
          return a + b;
        },
        2, 3);
    EXPECT_EQ(sum, 5);
    EXPECT_NE(worker_thread, loop_thread);
  }());
}

TEST(ThreadsTest, ToThreadPropagatesExceptions) {
  asyncio::run([]() -> Coro<> {
    bool caught = false;
    try {
      co_await asyncio::to_thread([]() -> int { throw std::runtime_error("boom"); });
    } catch (const std::runtime_error& e) {
      caught = std::string(e.what()) == "boom";
    }
    EXPECT_TRUE(caught);
  }());
}

TEST(ThreadsTest, ToThreadVoidMoveOnlyAndReferenceArguments) {
  asyncio::run([]() -> Coro<> {
    int out = 0;
    co_await asyncio::to_thread([](int& target) { target = 7; }, std::ref(out));
    EXPECT_EQ(out, 7);
    std::unique_ptr<int> p = co_await asyncio::to_thread(
        [](std::unique_ptr<int> in) {
          *in += 1;
          return in;
        },
        std::make_unique<int>(41));
    EXPECT_EQ(*p, 42);
  }());
}

TEST(ThreadsTest, ToThreadCallsRunConcurrently) {
  // Each call waits until all of them have started: this only completes if they overlap.
  asyncio::run([]() -> Coro<> {
    constexpr int kCalls = 4;  // the default pool has at least 5 threads
    std::mutex m;
    std::condition_variable cv;
    int started = 0;
    auto call = [&]() {
      std::unique_lock lock(m);
      ++started;
      cv.notify_all();
      return cv.wait_for(lock, 10s, [&] { return started == kCalls; });
    };
    std::vector<Task<bool>> tasks;
    auto one = [](decltype(call)& f) -> Coro<bool> { co_return co_await asyncio::to_thread(std::ref(f)); };
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; ++i) tasks.push_back(asyncio::create_task(one(call)));
    for (auto& t : tasks) EXPECT_TRUE(co_await t);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  }());
}

TEST(ThreadsTest, CancelledToThreadDropsTheResultSafely) {
  Tracked::live = 0;
  asyncio::run([]() -> Coro<> {
    Gate release;
    std::atomic<bool> started{false};
    std::atomic<bool> finished{false};
    auto blocking = [&]() {
      started = true;
      release.wait();
      auto r = std::make_shared<Tracked>(1);
      finished = true;
      return r;
    };
    auto waiter = [](decltype(blocking)& f) -> Coro<int> {
      std::shared_ptr<Tracked> r = co_await asyncio::to_thread(std::ref(f));
      co_return r->value;
    };
    Task<int> t = asyncio::create_task(waiter(blocking));
    EXPECT_TRUE(co_await wait_until([&] { return started.load(); }));  // the call is running
    t.cancel();
    EXPECT_TRUE(co_await ends_cancelled(t));
    t = Task<int>();  // nobody holds the task (nor its future) any more
    // Python: cancelling does not stop the function. Let it finish now.
    release.open();
    EXPECT_TRUE(co_await wait_until([&] { return finished.load(); }));
    // Its result reaches the loop (call_soon_threadsafe) and is dropped there.
    EXPECT_TRUE(co_await wait_until([] { return Tracked::live.load() == 0; }));
  }());
  EXPECT_EQ(Tracked::live.load(), 0);
}

TEST(ThreadsTest, CancelledRunInExecutorBeforeItStartsNeverRuns) {
  asyncio::run([]() -> Coro<> {
    ThreadPoolExecutor pool(1);
    EventLoop& loop = asyncio::get_running_loop();
    Gate release;
    std::atomic<bool> second_ran{false};
    asyncio::Future<int> first = loop.run_in_executor(&pool, [&] {
      release.wait();
      return 1;
    });
    asyncio::Future<int> second = loop.run_in_executor(&pool, [&] {
      second_ran = true;
      return 2;
    });
    EXPECT_TRUE(second.cancel());  // still queued behind `first`: it is skipped
    co_await asyncio::sleep(0s);   // the cancellation reaches the executor's future
    release.open();
    EXPECT_EQ(co_await first, 1);
    pool.shutdown(/*wait=*/true);
    EXPECT_FALSE(second_ran.load());
    EXPECT_TRUE(second.cancelled());
  }());
}

TEST(ThreadsTest, RunInExecutorWithACustomExecutor) {
  asyncio::run([]() -> Coro<> {
    ThreadPoolExecutor pool(2, "custom");
    EventLoop& loop = asyncio::get_running_loop();
    EXPECT_EQ(pool.thread_count(), 0u);  // lazy
    std::string s = co_await loop.run_in_executor(
        &pool, [](std::string a, const std::string& b) { return a + b; }, std::string("ab"),
        std::string("cd"));
    EXPECT_EQ(s, "abcd");
    EXPECT_EQ(pool.thread_count(), 1u);
  }());
}

TEST(ThreadsTest, SetDefaultExecutorIsUsedByToThread) {
  asyncio::run([]() -> Coro<> {
    auto pool = std::make_shared<ThreadPoolExecutor>(1);
    asyncio::get_running_loop().set_default_executor(pool);
    EXPECT_EQ(co_await asyncio::to_thread([] { return 3; }), 3);
    EXPECT_EQ(pool->thread_count(), 1u);
    co_await asyncio::get_running_loop().shutdown_default_executor();
  }());
}

TEST(ThreadsTest, ShutdownDefaultExecutorWaitsWithoutBlockingTheLoop) {
  asyncio::run([]() -> Coro<> {
    EventLoop& loop = asyncio::get_running_loop();
    std::atomic<bool> done{false};
    Gate release;
    asyncio::Future<void> call = loop.run_in_executor(nullptr, [&] {
      release.wait();
      done = true;
    });
    int ticks = 0;
    auto ticker = [](int& ticks, Gate& release) -> Coro<> {
      // The loop keeps running while shutdown waits: prove it, then let the call finish.
      for (int i = 0; i < 5; ++i) {
        co_await asyncio::sleep(1ms);
        ++ticks;
      }
      release.open();
    };
    Task<> t = asyncio::create_task(ticker(ticks, release));
    co_await loop.shutdown_default_executor();
    EXPECT_TRUE(done.load());
    EXPECT_EQ(ticks, 5);
    co_await t;
    co_await call;
    // Afterwards the default executor refuses work.
    EXPECT_THROW(loop.run_in_executor(nullptr, [] {}), asyncio::RuntimeError);
    bool refused = false;
    try {
      co_await asyncio::to_thread([] {});
    } catch (const asyncio::RuntimeError&) {
      refused = true;
    }
    EXPECT_TRUE(refused);
    co_await loop.shutdown_default_executor();  // twice is fine
  }());
}

TEST(ThreadsTest, ShutdownDefaultExecutorTimeoutStopsWaiting) {
  asyncio::run([]() -> Coro<> {
    EventLoop& loop = asyncio::get_running_loop();
    Gate release;
    std::atomic<bool> returned{false};
    asyncio::Future<void> call = loop.run_in_executor(nullptr, [&] {
      release.wait();
      returned = true;
    });
    const auto t0 = std::chrono::steady_clock::now();
    co_await loop.shutdown_default_executor(50ms);  // warns on stderr and gives up waiting
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    EXPECT_FALSE(returned.load());
    // The call still completes normally afterwards.
    release.open();
    co_await call;
    EXPECT_TRUE(returned.load());  // the pool's threads (and the detached joiner) now exit
  }());
}

TEST(ThreadsTest, ShutdownDefaultExecutorWithoutOneReturnsAtOnce) {
  asyncio::run([]() -> Coro<> {
    co_await asyncio::get_running_loop().shutdown_default_executor(1s);
  }());
}

TEST(ThreadsTest, ShutdownDefaultExecutorBlockingHelper) {
  EventLoop loop;
  std::atomic<bool> done{false};
  loop.run_until_complete([](std::atomic<bool>& done) -> Coro<> {
    asyncio::get_running_loop().run_in_executor(nullptr, [&done] {
      std::this_thread::sleep_for(20ms);
      done = true;
    });
    co_return;
  }(done));
  asyncio::detail::shutdown_default_executor_blocking(loop);
  EXPECT_TRUE(done.load());
  loop.close();
}

// ---- ThreadPoolExecutor ------------------------------------------------------------------------

TEST(ThreadPoolExecutorThreadTest, SubmitReturnsAConcurrentFuture) {
  ThreadPoolExecutor pool(2);
  ConcurrentFuture<int> f = pool.submit([](int x) { return x * 2; }, 21);
  EXPECT_EQ(f.result(10s), 42);
  ConcurrentFuture<void> g = pool.submit([] { throw std::logic_error("bad"); });
  EXPECT_THROW(g.result(10s), std::logic_error);
  EXPECT_TRUE(g.exception() != nullptr);
}

TEST(ThreadPoolExecutorThreadTest, DefaultMaxWorkersIsPythons) {
  const std::size_t cpus = std::max(1u, std::thread::hardware_concurrency());
  EXPECT_EQ(ThreadPoolExecutor::default_max_workers(), std::min<std::size_t>(32, cpus + 4));
  ThreadPoolExecutor pool;
  EXPECT_EQ(pool.max_workers(), ThreadPoolExecutor::default_max_workers());
  EXPECT_THROW(ThreadPoolExecutor(0), asyncio::ValueError);
}

TEST(ThreadPoolExecutorThreadTest, ThreadsStartLazilyUpToTheLimit) {
  ThreadPoolExecutor pool(3);
  EXPECT_EQ(pool.thread_count(), 0u);
  EXPECT_EQ(pool.submit([] { return 1; }).result(10s), 1);
  EXPECT_EQ(pool.thread_count(), 1u);
  // An idle thread is reused for sequential work. (The pause lets the worker get back to
  // waiting after publishing the result: until then it is not idle, as in Python.)
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(50ms);
    pool.submit([] {}).result(10s);
  }
  EXPECT_EQ(pool.thread_count(), 1u);
  // Blocked calls make it grow, but never past max_workers.
  Gate release;
  std::vector<ConcurrentFuture<void>> fs;
  for (int i = 0; i < 10; ++i) fs.push_back(pool.submit([&] { release.wait(); }));
  EXPECT_EQ(pool.thread_count(), 3u);
  release.open();
  for (auto& f : fs) f.result(10s);
}

TEST(ThreadPoolExecutorThreadTest, ShutdownRunsQueuedWorkUnlessCancelled) {
  {
    ThreadPoolExecutor pool(1);
    std::atomic<int> ran{0};
    std::vector<ConcurrentFuture<void>> fs;
    for (int i = 0; i < 5; ++i) fs.push_back(pool.submit([&] { ++ran; }));
    pool.shutdown(/*wait=*/true);
    EXPECT_EQ(ran.load(), 5);
    EXPECT_THROW(pool.submit([] {}), asyncio::RuntimeError);
  }
  {
    ThreadPoolExecutor pool(1);
    Gate release;
    std::atomic<int> ran{0};
    ConcurrentFuture<void> first = pool.submit([&] {
      release.wait();
      ++ran;
    });
    while (!first.running()) std::this_thread::sleep_for(1ms);
    std::vector<ConcurrentFuture<void>> queued;
    for (int i = 0; i < 5; ++i) queued.push_back(pool.submit([&] { ++ran; }));
    pool.shutdown(/*wait=*/false, /*cancel_futures=*/true);
    for (auto& f : queued) EXPECT_TRUE(f.cancelled());
    release.open();
    pool.shutdown(/*wait=*/true);
    EXPECT_EQ(ran.load(), 1);
    EXPECT_TRUE(first.done());
    EXPECT_FALSE(first.cancelled());
  }
}

TEST(ThreadPoolExecutorThreadTest, DestroyedFromItsOwnWorker) {
  auto pool = std::make_shared<ThreadPoolExecutor>(1);
  ConcurrentFuture<void> f = pool->submit([keep = pool] { (void)keep; });
  pool.reset();  // the last reference may now go away on the worker thread itself
  f.result(10s);
}

// ---- ConcurrentFuture --------------------------------------------------------------------------

TEST(ConcurrentFutureThreadTest, StatesAndTimeouts) {
  ConcurrentFuture<int> f;
  EXPECT_FALSE(f.done());
  EXPECT_FALSE(f.running());
  EXPECT_THROW(f.result(10ms), asyncio::TimeoutError);
  EXPECT_THROW(f.exception(0s), asyncio::TimeoutError);
  EXPECT_FALSE(f.wait(1ms));
  EXPECT_TRUE(f.set_running_or_notify_cancel());
  EXPECT_TRUE(f.running());
  EXPECT_FALSE(f.cancel());  // running: too late
  std::thread t([f] { f.set_result(5); });
  EXPECT_EQ(f.result(10s), 5);
  t.join();
  EXPECT_TRUE(f.done());
  EXPECT_THROW(f.set_result(6), asyncio::InvalidStateError);
  EXPECT_EQ(f.exception(), nullptr);
}

TEST(ConcurrentFutureThreadTest, CancelWakesWaitersAndRunsCallbacks) {
  ConcurrentFuture<std::string> f;
  std::atomic<int> calls{0};
  f.add_done_callback([&](const ConcurrentFuture<std::string>& g) {
    EXPECT_TRUE(g.cancelled());
    ++calls;
  });
  std::promise<bool> saw_cancel;
  std::thread waiter([f, &saw_cancel] {
    try {
      f.result(10s);
      saw_cancel.set_value(false);
    } catch (const asyncio::CancelledError&) {
      saw_cancel.set_value(true);
    }
  });
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(f.cancel());  // already cancelled: still true
  EXPECT_TRUE(saw_cancel.get_future().get());
  waiter.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_FALSE(f.set_running_or_notify_cancel());
  EXPECT_THROW(f.set_result("x"), asyncio::InvalidStateError);
  // A callback added after completion runs at once.
  f.add_done_callback([&](const ConcurrentFuture<std::string>&) { ++calls; });
  EXPECT_EQ(calls.load(), 2);
}

TEST(ConcurrentFutureThreadTest, WrapFutureAwaitsAValueSetByAThread) {
  asyncio::run([]() -> Coro<> {
    ConcurrentFuture<std::string> cf;
    std::thread producer([cf] {
      std::this_thread::sleep_for(5ms);
      cf.set_result("hello");
    });
    std::string s = co_await asyncio::wrap_future(cf);
    EXPECT_EQ(s, "hello");
    EXPECT_EQ(cf.result(), "hello");  // copied, not stolen
    producer.join();

    ConcurrentFuture<int> failing;
    failing.set_exception(std::runtime_error("nope"));
    bool caught = false;
    try {
      co_await asyncio::wrap_future(failing);
    } catch (const std::runtime_error&) {
      caught = true;
    }
    EXPECT_TRUE(caught);
  }());
}

// ---- run_coroutine_threadsafe ------------------------------------------------------------------

namespace {

Coro<int> add_later(int a, int b) {
  co_await asyncio::sleep(1ms);
  co_return a + b;
}

Coro<int> fail_later() {
  co_await asyncio::sleep(1ms);
  throw std::runtime_error("coroutine failed");
}

}  // namespace

TEST(RunCoroutineThreadsafeThreadTest, FromAPlainThread) {
  asyncio::run([]() -> Coro<> {
    EventLoop& loop = asyncio::get_running_loop();
    std::atomic<bool> finished{false};
    int result = 0;
    bool failure_seen = false;
    std::thread other([&] {
      ConcurrentFuture<int> f = asyncio::run_coroutine_threadsafe(add_later(40, 2), loop);
      result = f.result(10s);
      ConcurrentFuture<int> g = asyncio::run_coroutine_threadsafe(fail_later(), loop);
      try {
        g.result(10s);
      } catch (const std::runtime_error& e) {
        failure_seen = std::string(e.what()) == "coroutine failed";
      }
      finished = true;
    });
    bool ok = co_await wait_until([&] { return finished.load(); });
    other.join();
    EXPECT_TRUE(ok);
    EXPECT_EQ(result, 42);
    EXPECT_TRUE(failure_seen);
  }());
}

TEST(RunCoroutineThreadsafeThreadTest, CancelFromTheOtherThreadCancelsTheTask) {
  asyncio::run([]() -> Coro<> {
    EventLoop& loop = asyncio::get_running_loop();
    std::atomic<bool> started{false};
    std::atomic<bool> saw_cancel{false};
    std::atomic<bool> finished{false};
    bool result_cancelled = false;
    auto long_job = [](std::atomic<bool>& started, std::atomic<bool>& saw_cancel) -> Coro<int> {
      started = true;
      try {
        co_await asyncio::sleep(30s);
      } catch (const asyncio::CancelledError&) {
        saw_cancel = true;
        throw;
      }
      co_return 1;
    };
    std::thread other([&] {
      ConcurrentFuture<int> f =
          asyncio::run_coroutine_threadsafe(long_job(started, saw_cancel), loop);
      while (!started.load()) std::this_thread::sleep_for(1ms);
      EXPECT_TRUE(f.cancel());
      try {
        f.result(10s);
      } catch (const asyncio::CancelledError&) {
        result_cancelled = true;
      }
      finished = true;
    });
    bool ok = co_await wait_until([&] { return finished.load() && saw_cancel.load(); });
    other.join();
    EXPECT_TRUE(ok);
    EXPECT_TRUE(result_cancelled);
    EXPECT_TRUE(saw_cancel.load());
  }());
}

TEST(RunCoroutineThreadsafeThreadTest, ClosedLoopThrowsAndLoopCloseCancelsTheFuture) {
  {
    EventLoop loop;
    loop.close();
    EXPECT_THROW(asyncio::run_coroutine_threadsafe(add_later(1, 2), loop), asyncio::RuntimeError);
  }
  {
    EventLoop loop;
    loop.set_exception_handler([](EventLoop&, const asyncio::ExceptionContext&) {});
    auto forever = []() -> Coro<int> {
      co_await asyncio::sleep(3600s);
      co_return 0;
    };
    ConcurrentFuture<int> f = asyncio::run_coroutine_threadsafe(forever(), loop);
    loop.run_until_complete([]() -> Coro<> { co_await asyncio::sleep(1ms); }());  // it starts
    EXPECT_FALSE(f.done());
    loop.close();  // destroys the pending task: the future must not stay pending forever
    EXPECT_TRUE(f.cancelled());
  }
  {
    EventLoop loop;
    ConcurrentFuture<int> f = asyncio::run_coroutine_threadsafe(add_later(1, 2), loop);
    loop.close();  // before the task was even created
    EXPECT_TRUE(f.cancelled());
  }
}

// ---- call_soon_threadsafe ----------------------------------------------------------------------

TEST(CallSoonThreadsafeThreadTest, EightThreadsThousandCallsEachAllRunInOrder) {
  constexpr int kThreads = 8;
  constexpr int kCalls = 1000;
  asyncio::run([]() -> Coro<> {
    EventLoop& loop = asyncio::get_running_loop();
    int total = 0;                           // touched on the loop thread only
    std::vector<int> last(kThreads, -1);     // per-thread FIFO check
    int out_of_order = 0;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kCalls; ++i) {
          loop.call_soon_threadsafe([&, t, i] {
            if (last[static_cast<std::size_t>(t)] != i - 1) ++out_of_order;
            last[static_cast<std::size_t>(t)] = i;
            ++total;
          });
        }
      });
    }
    bool ok = co_await wait_until([&] { return total == kThreads * kCalls; });
    for (auto& th : threads) th.join();
    EXPECT_TRUE(ok);
    EXPECT_EQ(total, kThreads * kCalls);
    EXPECT_EQ(out_of_order, 0);
  }());
}
