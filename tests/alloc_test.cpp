// Heap allocations of the core paths, counted by replacing the global operator new/delete.
//
// The replacement below is linked into the whole test binary, but it only counts while the
// calling thread's `counting` flag is set, so other tests are unaffected (it forwards to
// malloc/free, which the sanitizers still intercept).
//
// Note: frames, tasks and futures come from a per-thread block cache (detail::pool_allocate)
// that falls back to operator new on a miss, and is disabled under ASan/TSan. So the
// create_task numbers measured here are "operator new calls once the cache is warm" in a
// normal build, and "objects allocated" (the logical count) in a sanitizer build.

#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <sys/socket.h>

#include <gtest/gtest.h>

#include "asyncio/async_generator.hpp"
#include "asyncio/detail/pool_allocator.hpp"
#include "asyncio/events.hpp"
#include "asyncio/futures.hpp"
#include "asyncio/sockets.hpp"
#include "asyncio/streams.hpp"
#include "asyncio/tasks.hpp"

namespace {

constinit thread_local bool counting = false;
constinit thread_local long allocations = 0;

void* counted_alloc(std::size_t size) {
  if (counting) ++allocations;
  void* p = std::malloc(size ? size : 1);
  if (!p) throw std::bad_alloc();
  return p;
}

void* counted_aligned_alloc(std::size_t size, std::align_val_t align) {
  if (counting) ++allocations;
  std::size_t a = static_cast<std::size_t>(align);
  if (a < sizeof(void*)) a = sizeof(void*);
  void* p = nullptr;
  if (::posix_memalign(&p, a, size ? size : 1) != 0) throw std::bad_alloc();
  return p;
}

/// Out of line, so that GCC's -Wmismatched-new-delete (which fires when an inlined delete
/// calls free() on what it knows came from operator new) does not see through it.
[[gnu::noinline]] void raw_free(void* p) noexcept {
  std::free(p);
}

/// Counts operator new calls made by this thread between construction and stop().
class AllocCounter {
 public:
  AllocCounter() : start_(allocations) { counting = true; }
  ~AllocCounter() { counting = false; }
  long stop() {
    counting = false;
    return allocations - start_;
  }

 private:
  long start_;
};

}  // namespace

// ---- The replacement (all the replaceable forms, so every allocation is seen) -----------------

void* operator new(std::size_t size) {
  return counted_alloc(size);
}
void* operator new[](std::size_t size) {
  return counted_alloc(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t size, std::align_val_t a) {
  return counted_aligned_alloc(size, a);
}
void* operator new[](std::size_t size, std::align_val_t a) {
  return counted_aligned_alloc(size, a);
}
void* operator new(std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return counted_aligned_alloc(size, a);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return counted_aligned_alloc(size, a);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept {
  raw_free(p);
}
void operator delete[](void* p) noexcept {
  raw_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  raw_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  raw_free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  raw_free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  raw_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  raw_free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  raw_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  raw_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  raw_free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  raw_free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  raw_free(p);
}

// ---- Tests -----------------------------------------------------------------------------------

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::EventLoop;

namespace {

Coro<int> trivial() {
  co_return 1;
}

/// Each of two tasks runs this; counting covers iterations [from, to) of the first player,
/// during which both players take turns through sleep(0s).
Coro<> player(int iterations, bool measures, int from, int to, long& counted) {
  long start = 0;
  for (int i = 0; i < iterations; ++i) {
    if (measures && i == from) {
      start = allocations;
      counting = true;
    }
    if (measures && i == to) {
      counting = false;
      counted = allocations - start;
    }
    co_await asyncio::sleep(0s);
  }
}

}  // namespace

TEST(AllocTest, CounterSeesAllocations) {
  AllocCounter c;
  // Stored through a volatile pointer: clang at -O1 elides an unobservable new/delete pair.
  int* volatile p = new int(3);
  delete p;
  std::string s(100, 'x');  // heap: longer than the small-string buffer
  EXPECT_EQ(c.stop(), 2);
}

TEST(AllocTest, SleepZeroPingPongSteadyStateAllocatesNothing) {
  EventLoop loop;
  long counted = -1;
  auto main = [&]() -> Coro<> {
    auto a = asyncio::create_task(player(3000, true, 1000, 2000, counted));
    auto b = asyncio::create_task(player(3000, false, 0, 0, counted));
    co_await a;
    co_await b;
  };
  loop.run_until_complete(main());
  std::printf("[ alloc    ] sleep(0s) ping-pong, 1000 rounds of 2 tasks after warm-up: %ld\n",
              counted);
  RecordProperty("steady_state_allocations", static_cast<int>(counted));
  EXPECT_EQ(counted, 0);
}

TEST(AllocTest, TimerPingPongSteadyStateAllocatesNothing) {
  EventLoop loop;
  long counted = -1;
  auto sleeper = [](int iterations, bool measures, long& out) -> Coro<> {
    long start = 0;
    for (int i = 0; i < iterations; ++i) {
      if (measures && i == 20) {
        start = allocations;
        counting = true;
      }
      if (measures && i == 60) {
        counting = false;
        out = allocations - start;
      }
      co_await asyncio::sleep(10us);  // a real timer through the heap and epoll_wait
    }
  };
  auto main = [&]() -> Coro<> {
    auto a = asyncio::create_task(sleeper(80, true, counted));
    auto b = asyncio::create_task(sleeper(80, false, counted));
    co_await a;
    co_await b;
  };
  loop.run_until_complete(main());
  std::printf("[ alloc    ] sleep(10us) ping-pong, 40 rounds of 2 tasks after warm-up: %ld\n",
              counted);
  EXPECT_EQ(counted, 0);
}

TEST(AllocTest, CreateTaskAndAwaitCost) {
  EventLoop loop;
  long task_cost = -1;
  long coro_cost = -1;
  long future_cost = -1;
  auto main = [&]() -> Coro<> {
    // Warm up: the ready queue, the block cache and anything lazily created.
    for (int i = 0; i < 4; ++i) co_await asyncio::create_task(trivial());
    {
      AllocCounter c;
      co_await asyncio::create_task(trivial());
      task_cost = c.stop();
    }
    {
      AllocCounter c;
      co_await trivial();
      coro_cost = c.stop();
    }
    {
      EventLoop& l = asyncio::get_running_loop();
      AllocCounter c;
      asyncio::Future<int> f = l.create_future<int>();
      f.set_result(1);
      co_await f;
      f = {};
      future_cost = c.stop();
    }
  };
  loop.run_until_complete(main());
  std::printf("[ alloc    ] create_task(trivial) + co_await: %ld operator new call(s)\n",
              task_cost);
  std::printf("[ alloc    ] co_await trivial() (no task): %ld\n", coro_cost);
  std::printf("[ alloc    ] create_future + set_result + co_await: %ld\n", future_cost);
  RecordProperty("create_task_allocations", static_cast<int>(task_cost));
  // At most one block: the coroutine frame with the task state in front of it (the ready
  // queue has grown already).
  EXPECT_LE(task_cost, 1);
  EXPECT_LE(coro_cost, 1);
  EXPECT_LE(future_cost, 1);
}

// One allocation per task: the task state lives in the prefix of the coroutine frame's block
// (detail/task_frame.hpp). Measured on a fresh thread, whose block cache is empty, with every
// task alive at once: each block is then an operator new call in any build, so N tasks cost N
// calls (2N when the task state was allocated apart from the frame), plus the ready queue
// growing to hold their first steps (a few doublings).
TEST(AllocTest, CreateTaskAllocatesOneBlockPerTask) {
  constexpr long kTasks = 256;
  long cost = -1;
  std::thread([&] {
    EventLoop loop;
    auto main = [&]() -> Coro<> {
      std::vector<asyncio::Task<int>> tasks;
      std::vector<asyncio::Task<>> void_tasks;
      tasks.reserve(kTasks);
      void_tasks.reserve(kTasks);
      {
        AllocCounter c;
        for (long k = 0; k < kTasks; ++k) {
          tasks.push_back(asyncio::create_task(trivial()));
          void_tasks.push_back(asyncio::create_task([]() -> Coro<> { co_return; }()));
        }
        cost = c.stop();
      }
      for (auto& t : tasks) co_await t;
      for (auto& t : void_tasks) co_await t;
    };
    loop.run_until_complete(main());
    loop.close();
  }).join();
  std::printf(
      "[ alloc    ] %ld create_task(Coro<int>) + %ld create_task(Coro<void>), all alive, "
      "fresh thread: %ld operator new call(s)\n",
      kTasks, kTasks, cost);
  RecordProperty("create_task_blocks", static_cast<int>(cost));
  EXPECT_GE(cost, 2 * kTasks);
  EXPECT_LE(cost, 2 * kTasks + 4);  // + the ready queue's doublings
}

// co_yield hands the value over in the generator's frame: no allocation per value, whether the
// generator yields without suspending (the value comes back through the consumer's
// await_suspend) or after a co_await that went through the loop (the yield resumes the consumer
// by symmetric transfer from inside the task's step).
TEST(AllocTest, AsyncGeneratorYieldSteadyStateAllocatesNothing) {
  EventLoop loop;
  long inline_cost = -1;
  long suspended_cost = -1;
  long sum = 0;
  auto counter = [](int n) -> asyncio::AsyncGenerator<int> {
    for (int i = 0; i < n; ++i) co_yield i;
  };
  auto sleeper = [](int n) -> asyncio::AsyncGenerator<int> {
    for (int i = 0; i < n; ++i) {
      co_await asyncio::sleep(0s);
      co_yield i;
    }
  };
  auto main = [&]() -> Coro<> {
    auto g = counter(3000);
    for (int i = 0; i < 1000; ++i) sum += *co_await g.next();  // warm-up
    {
      AllocCounter c;
      for (int i = 0; i < 1000; ++i) sum += *co_await g.next();
      inline_cost = c.stop();
    }
    auto s = sleeper(3000);
    for (int i = 0; i < 1000; ++i) sum += *co_await s.next();
    {
      AllocCounter c;
      for (int i = 0; i < 1000; ++i) sum += *co_await s.next();
      suspended_cost = c.stop();
    }
  };
  loop.run_until_complete(main());
  std::printf("[ alloc    ] AsyncGenerator: 1000 co_yield/next() (no suspension): %ld\n",
              inline_cost);
  std::printf("[ alloc    ] AsyncGenerator: 1000 sleep(0s) + co_yield/next(): %ld\n",
              suspended_cost);
  RecordProperty("async_generator_yield_allocations", static_cast<int>(inline_cost));
  EXPECT_GT(sum, 0);
  EXPECT_EQ(inline_cost, 0);
  EXPECT_EQ(suspended_cost, 0);
}

// A stream in a request/response rhythm over a real socket: the transport receives into the
// reader's buffer, which the reader keeps, so readinto() allocates nothing once warm and read()
// allocates only the string it returns.
TEST(AllocTest, StreamReadintoSteadyStateAllocatesNothing) {
  EventLoop loop;
  long readinto_cost = -1;
  long read_cost = -1;
  long read_calls = 0;
  long readinto_calls = 0;
  constexpr int kRounds = 200;
  auto main = [&]() -> Coro<> {
    auto [a, b] = asyncio::socketpair();
    auto rw = co_await asyncio::open_connection(std::move(a));
    asyncio::StreamReader r = rw.first;
    const std::string msg(16 * 1024, 'm');
    std::vector<std::byte> buf(64 * 1024);
    for (int i = 0; i < 2 * kRounds; ++i) {
      if (i == kRounds) {
        readinto_cost = -allocations;
        counting = true;
      }
      if (::send(b.fd(), msg.data(), msg.size(), 0) != static_cast<ssize_t>(msg.size())) {
        ADD_FAILURE() << "send failed";
        co_return;
      }
      std::size_t got = 0;
      while (got < msg.size()) {
        got += co_await r.readinto(buf);
        if (counting) ++readinto_calls;
      }
    }
    counting = false;
    readinto_cost += allocations;
    for (int i = 0; i < 2 * kRounds; ++i) {
      if (i == kRounds) {
        read_cost = -allocations;
        counting = true;
      }
      if (::send(b.fd(), msg.data(), msg.size(), 0) != static_cast<ssize_t>(msg.size())) {
        ADD_FAILURE() << "send failed";
        co_return;
      }
      std::size_t got = 0;
      while (got < msg.size()) {
        std::string d = co_await r.read(64 * 1024);
        got += d.size();
        if (counting) ++read_calls;
      }
    }
    counting = false;
    read_cost += allocations;
    rw.second.close();
  };
  loop.run_until_complete(main());
  std::printf("[ alloc    ] stream readinto(), %d x 16 KiB over a socket after warm-up: %ld\n",
              kRounds, readinto_cost);
  std::printf("[ alloc    ] stream read(), %d x 16 KiB (%ld calls): %ld\n", kRounds, read_calls,
              read_cost);
  RecordProperty("stream_readinto_allocations", static_cast<int>(readinto_cost));
  // Under the sanitizers the frame cache is off: each call's coroutine frame counts too.
  const long frames = asyncio::detail::pool::kEnabled ? 0 : 1;
  EXPECT_EQ(readinto_cost, frames * readinto_calls);
  EXPECT_LE(read_cost, (1 + frames) * read_calls);  // the returned strings, nothing else
}
