// Tests of Queue, LifoQueue and PriorityQueue (Python: test_asyncio/test_queues.py, plus
// Python 3.13's shutdown tests).

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/events.hpp"
#include "asyncio/exceptions.hpp"
#include "asyncio/futures.hpp"
#include "asyncio/queues.hpp"
#include "asyncio/runners.hpp"
#include "asyncio/tasks.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::LifoQueue;
using asyncio::PriorityQueue;
using asyncio::Queue;
using asyncio::Task;

namespace {

template <class Q>
Coro<typename Q::value_type> get_one(Q& q) {
  co_return co_await q.get();
}

template <class Q, class T>
Coro<> put_one(Q& q, T item) {
  co_await q.put(std::move(item));
}

/// Lets the loop run `n` iterations.
Coro<> yield(int n = 1) {
  for (int i = 0; i < n; ++i) co_await asyncio::sleep(0s);
}

/// Whether awaiting `t` throws CancelledError.
template <class T>
Coro<bool> ends_cancelled(Task<T> t) {
  try {
    co_await t;
  } catch (const asyncio::CancelledError&) {
    co_return true;
  }
  co_return false;
}

template <class E, class T>
Coro<bool> throws(Task<T> t) {
  try {
    co_await t;
  } catch (const E&) {
    co_return true;
  }
  co_return false;
}

}  // namespace

// ---- Basics (QueueBasicTests) ----------------------------------------------------------------

TEST(QueueTest, EmptyAndFull) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q;
    EXPECT_TRUE(q.empty());
    EXPECT_FALSE(q.full());
    EXPECT_EQ(q.maxsize(), 0u);
    co_await q.put(1);
    EXPECT_FALSE(q.empty());
    EXPECT_FALSE(q.full());  // unbounded: never full
    EXPECT_EQ(q.qsize(), 1u);
    EXPECT_EQ(co_await q.get(), 1);
    EXPECT_TRUE(q.empty());

    Queue<int> bounded(1);
    EXPECT_EQ(bounded.maxsize(), 1u);
    co_await bounded.put(1);
    EXPECT_TRUE(bounded.full());
  }());
}

TEST(QueueTest, FifoOrder) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q;
    for (int i : {1, 3, 2}) co_await q.put(i);
    std::vector<int> items;
    for (int i = 0; i < 3; ++i) items.push_back(co_await q.get());
    EXPECT_EQ(items, (std::vector<int>{1, 3, 2}));
  }());
}

TEST(QueueTest, LifoOrder) {
  asyncio::run([]() -> Coro<> {
    LifoQueue<int> q;
    for (int i : {1, 3, 2}) co_await q.put(i);
    std::vector<int> items;
    for (int i = 0; i < 3; ++i) items.push_back(co_await q.get());
    EXPECT_EQ(items, (std::vector<int>{2, 3, 1}));
  }());
}

TEST(QueueTest, PriorityOrderSmallestFirst) {
  asyncio::run([]() -> Coro<> {
    PriorityQueue<int> q;
    for (int i : {1, 3, 2, 5, 4, 0}) co_await q.put(i);
    std::vector<int> items;
    while (!q.empty()) items.push_back(co_await q.get());
    EXPECT_EQ(items, (std::vector<int>{0, 1, 2, 3, 4, 5}));

    // (priority, data) entries, as typically used.
    PriorityQueue<std::pair<int, std::string>> jobs;
    jobs.put_nowait({2, "b"});
    jobs.put_nowait({1, "a"});
    jobs.put_nowait({3, "c"});
    EXPECT_EQ(jobs.get_nowait().second, "a");
    EXPECT_EQ(jobs.get_nowait().second, "b");
    EXPECT_EQ(jobs.get_nowait().second, "c");

    // A custom order: std::greater gives the largest first.
    PriorityQueue<int, std::greater<int>> largest;
    for (int i : {1, 3, 2}) largest.put_nowait(i);
    EXPECT_EQ(largest.get_nowait(), 3);
    EXPECT_EQ(largest.get_nowait(), 2);
    EXPECT_EQ(largest.get_nowait(), 1);
  }());
}

TEST(QueueTest, Maxsize) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q(2);
    EXPECT_EQ(q.maxsize(), 2u);
    std::vector<int> have_been_put;
    auto putter = [](Queue<int>& q, std::vector<int>& log) -> Coro<bool> {
      for (int i = 0; i < 3; ++i) {
        co_await q.put(i);
        log.push_back(i);
      }
      co_return true;
    };
    Task<bool> t = asyncio::create_task(putter(q, have_been_put));
    co_await yield(2);
    // The putter is blocked after putting two items.
    EXPECT_EQ(have_been_put, (std::vector<int>{0, 1}));
    EXPECT_EQ(co_await q.get(), 0);
    // Let the putter resume and put the last item.
    co_await yield();
    EXPECT_EQ(have_been_put, (std::vector<int>{0, 1, 2}));
    EXPECT_EQ(co_await q.get(), 1);
    EXPECT_EQ(co_await q.get(), 2);
    EXPECT_TRUE(t.done());
    EXPECT_TRUE(t.result());
  }());
}

// ---- get (QueueGetTests) ---------------------------------------------------------------------

TEST(QueueTest, NonblockingGetAndPut) {
  Queue<int> q(1);
  EXPECT_THROW(q.get_nowait(), asyncio::QueueEmpty);
  q.put_nowait(1);
  EXPECT_THROW(q.put_nowait(2), asyncio::QueueFull);
  EXPECT_EQ(q.get_nowait(), 1);
  EXPECT_THROW(q.get_nowait(), asyncio::QueueEmpty);
  try {
    q.get_nowait();
  } catch (const std::exception& e) {  // a std::exception; str() is '' in Python 3.12
    EXPECT_STREQ(e.what(), "");
    EXPECT_EQ(asyncio::format_exception(std::current_exception()), "QueueEmpty\n");
  }
}

TEST(QueueTest, BlockingGetWaitsForPut) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q;
    bool finished = false;
    auto getter = [](Queue<int>& q, bool& finished) -> Coro<int> {
      int v = co_await q.get();
      finished = true;
      co_return v;
    };
    Task<int> t = asyncio::create_task(getter(q, finished));
    co_await yield();
    EXPECT_FALSE(finished);
    asyncio::get_running_loop().call_later(10ms, [&q] { q.put_nowait(1); });
    EXPECT_EQ(co_await t, 1);
    EXPECT_TRUE(finished);
  }());
}

TEST(QueueTest, GetWithWaitingPuttersWakesThem) {
  asyncio::run([]() -> Coro<> {
    Queue<std::string> q(1);
    Task<> a = asyncio::create_task(put_one(q, std::string("a")));
    Task<> b = asyncio::create_task(put_one(q, std::string("b")));
    EXPECT_EQ(co_await q.get(), "a");
    EXPECT_EQ(co_await q.get(), "b");
    co_await a;
    co_await b;
  }());
}

TEST(QueueTest, GetCancelledRace) {
  asyncio::run([]() -> Coro<> {
    Queue<std::string> q;
    Task<std::string> t1 = asyncio::create_task(get_one(q));
    Task<std::string> t2 = asyncio::create_task(get_one(q));
    co_await yield();
    t1.cancel();
    co_await yield();
    EXPECT_TRUE(t1.done());
    EXPECT_TRUE(t1.cancelled());
    co_await q.put("a");
    co_await yield();
    EXPECT_EQ(co_await t2, "a");
  }());
}

TEST(QueueTest, RepeatedCancelOfAPendingGetKeepsTheFirstMessage) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q;
    Task<std::string> t = asyncio::create_task([](Queue<int>& q) -> Coro<std::string> {
      try {
        co_await q.get();
      } catch (const asyncio::CancelledError& e) {
        co_return e.message();
      }
      co_return "not cancelled";
    }(q));
    co_await yield();
    t.cancel("one");
    t.cancel("two");
    EXPECT_EQ(co_await t, "one");
  }());
}

TEST(QueueTest, WhyAreGettersWaiting) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q(1);
    auto consumer = [](Queue<int>& q, int n) -> Coro<> {
      for (int i = 0; i < n; ++i) co_await q.get();
    };
    auto producer = [](Queue<int>& q, int n) -> Coro<> {
      for (int i = 0; i < n; ++i) co_await q.put(i);
    };
    Task<> p = asyncio::create_task(producer(q, 5));
    Task<> c = asyncio::create_task(consumer(q, 5));
    co_await p;
    co_await c;
    EXPECT_TRUE(q.empty());
  }());
}

TEST(QueueTest, CancelledGetterLeavesTheLine) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q(5);
    Task<int> t = asyncio::create_task(get_one(q));
    co_await yield();
    t.cancel();
    EXPECT_TRUE(co_await ends_cancelled(t));
    // A put is not handed to the dead getter: it stays for the next get.
    q.put_nowait(7);
    EXPECT_EQ(q.qsize(), 1u);
    EXPECT_EQ(co_await q.get(), 7);
  }());
}

TEST(QueueTest, WokenGetterThatLostTheItemWaitsAgainAtTheBack) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q;
    Task<int> g1 = asyncio::create_task(get_one(q));
    Task<int> g2 = asyncio::create_task(get_one(q));
    co_await yield();
    q.put_nowait(1);               // wakes g1...
    EXPECT_EQ(q.get_nowait(), 1);  // ...but the item is taken before g1 runs
    co_await yield();
    EXPECT_FALSE(g1.done());  // g1 waits again, now behind g2 (Python's while loop)
    q.put_nowait(2);
    co_await yield();
    EXPECT_TRUE(g2.done());
    EXPECT_EQ(g2.result(), 2);
    EXPECT_FALSE(g1.done());
    q.put_nowait(3);
    EXPECT_EQ(co_await g1, 3);
  }());
}

// ---- put (QueuePutTests) ---------------------------------------------------------------------

TEST(QueueTest, BlockingPutWaitsForGet) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q(1);
    bool finished = false;
    auto putter = [](Queue<int>& q, bool& finished) -> Coro<> {
      co_await q.put(1);
      co_await q.put(2);
      finished = true;
    };
    asyncio::get_running_loop().call_later(10ms, [&q] { q.get_nowait(); });
    Task<> t = asyncio::create_task(putter(q, finished));
    co_await yield();
    EXPECT_FALSE(finished);
    co_await t;
    EXPECT_TRUE(finished);
    EXPECT_EQ(q.get_nowait(), 2);
  }());
}

TEST(QueueTest, GetCancelDropOnePendingReader) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q;
    Task<int> reader = asyncio::create_task(get_one(q));
    co_await yield();
    q.put_nowait(1);  // wakes the reader
    q.put_nowait(2);
    reader.cancel();  // before it ran: it must not take (and lose) item 1
    bool cancelled = co_await ends_cancelled(reader);
    EXPECT_TRUE(cancelled);
    if (cancelled) {
      reader = asyncio::create_task(get_one(q));
      co_await reader;
    }
    // If we get 2, item 1 got dropped!
    EXPECT_EQ(reader.result(), 1);
    EXPECT_EQ(q.qsize(), 1u);
  }());
}

TEST(QueueTest, GetCancelDropManyPendingReaders) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q;
    Task<int> r1 = asyncio::create_task(get_one(q));
    Task<int> r2 = asyncio::create_task(get_one(q));
    Task<int> r3 = asyncio::create_task(get_one(q));
    co_await yield();
    q.put_nowait(1);  // wakes r1
    q.put_nowait(2);  // wakes r2
    r1.cancel();      // r1 was woken: it passes its wake-up on to r3
    EXPECT_TRUE(co_await ends_cancelled(r1));
    int a = co_await r2;
    int b = co_await r3;
    EXPECT_EQ(std::min(a, b), 1);
    EXPECT_EQ(std::max(a, b), 2);
    EXPECT_TRUE(q.empty());
  }());
}

TEST(QueueTest, PutCancelDrop) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q(1);
    q.put_nowait(1);
    // Putting a second item has to block.
    Task<> writer = asyncio::create_task(put_one(q, 2));
    co_await yield();
    EXPECT_EQ(q.get_nowait(), 1);  // wakes the writer
    writer.cancel();               // before it ran: it puts nothing
    bool cancelled = co_await ends_cancelled(writer);
    EXPECT_TRUE(cancelled);
    EXPECT_TRUE(q.empty());
    if (cancelled) {
      writer = asyncio::create_task(put_one(q, 2));
      co_await writer;
    }
    EXPECT_EQ(q.get_nowait(), 2);
    EXPECT_EQ(q.qsize(), 0u);
  }());
}

TEST(QueueTest, PutCancelledRace) {
  asyncio::run([]() -> Coro<> {
    Queue<std::string> q(1);
    Task<> put_a = asyncio::create_task(put_one(q, std::string("a")));
    Task<> put_b = asyncio::create_task(put_one(q, std::string("b")));
    Task<> put_c = asyncio::create_task(put_one(q, std::string("X")));
    co_await yield();
    EXPECT_TRUE(put_a.done());
    EXPECT_FALSE(put_b.done());
    put_c.cancel();
    co_await yield();
    EXPECT_TRUE(put_c.done());
    EXPECT_TRUE(put_c.cancelled());
    EXPECT_EQ(q.get_nowait(), "a");
    co_await yield();
    EXPECT_EQ(q.get_nowait(), "b");
    co_await put_b;
    EXPECT_TRUE(q.empty());
  }());
}

TEST(QueueTest, PutWithWaitingGetters) {
  asyncio::run([]() -> Coro<> {
    Queue<std::string> q;
    Task<std::string> t = asyncio::create_task(get_one(q));
    co_await yield();
    co_await q.put("a");
    EXPECT_EQ(co_await t, "a");
  }());
}

TEST(QueueTest, WhyArePuttersWaiting) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q(2);
    auto getter = [](Queue<int>& q) -> Coro<> {
      co_await asyncio::sleep(0s);
      std::size_t n = q.qsize();
      for (std::size_t i = 0; i < n; ++i) q.get_nowait();
    };
    Task<> g = asyncio::create_task(getter(q));
    std::vector<Task<>> putters;
    for (int i = 0; i < 4; ++i) putters.push_back(asyncio::create_task(put_one(q, i)));
    co_await g;
    for (auto& p : putters) co_await p;
    EXPECT_EQ(q.qsize(), 2u);
    EXPECT_EQ(q.get_nowait(), 2);
    EXPECT_EQ(q.get_nowait(), 3);
  }());
}

TEST(QueueTest, CancelledPutterLeavesTheLine) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q(1);
    q.put_nowait(1);
    Task<> put_task = asyncio::create_task(put_one(q, 2));
    co_await yield();
    put_task.cancel();
    EXPECT_TRUE(co_await ends_cancelled(put_task));
    EXPECT_EQ(q.get_nowait(), 1);
    co_await yield();
    EXPECT_TRUE(q.empty());  // the cancelled putter put nothing
  }());
}

TEST(QueueTest, WokenPutterCancelledPassesTheSlotOn) {
  // test_cancelled_put_silence_value_error_exception, plus: the slot goes to the next putter.
  asyncio::run([]() -> Coro<> {
    Queue<int> q(1);
    q.put_nowait(1);
    Task<> p1 = asyncio::create_task(put_one(q, 2));
    Task<> p2 = asyncio::create_task(put_one(q, 3));
    co_await yield();
    q.get_nowait();  // wakes p1
    p1.cancel();
    EXPECT_TRUE(co_await ends_cancelled(p1));
    co_await p2;  // p1 passed its wake-up on
    EXPECT_EQ(q.get_nowait(), 3);
    EXPECT_TRUE(q.empty());
  }());
}

TEST(QueueTest, CancelRequestedBeforeTheFirstWaitIsDelivered) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q;
    auto self_cancelling = [](Queue<int>& q) -> Coro<int> {
      asyncio::current_task().cancel("stop");
      co_return co_await q.get();  // suspends, and is cancelled at once
    };
    Task<int> t = asyncio::create_task(self_cancelling(q));
    EXPECT_TRUE(co_await ends_cancelled(t));
    q.put_nowait(5);
    EXPECT_EQ(q.get_nowait(), 5);
  }());
}

TEST(QueueTest, MoveOnlyItems) {
  asyncio::run([]() -> Coro<> {
    Queue<std::unique_ptr<int>> q(1);
    co_await q.put(std::make_unique<int>(1));
    Task<> blocked = asyncio::create_task(put_one(q, std::make_unique<int>(2)));
    co_await yield();
    EXPECT_FALSE(blocked.done());
    std::unique_ptr<int> a = co_await q.get();
    co_await blocked;
    std::unique_ptr<int> b = q.get_nowait();
    EXPECT_EQ(*a, 1);
    EXPECT_EQ(*b, 2);

    struct ByValue {
      bool operator()(const std::unique_ptr<int>& x, const std::unique_ptr<int>& y) const {
        return *x < *y;
      }
    };
    PriorityQueue<std::unique_ptr<int>, ByValue> pq;
    for (int i : {3, 1, 2}) pq.put_nowait(std::make_unique<int>(i));
    EXPECT_EQ(*pq.get_nowait(), 1);
    EXPECT_EQ(*(co_await pq.get()), 2);

    LifoQueue<std::unique_ptr<int>> lq;
    lq.put_nowait(std::make_unique<int>(1));
    lq.put_nowait(std::make_unique<int>(2));
    EXPECT_EQ(*lq.get_nowait(), 2);
  }());
}

// ---- join / task_done (QueueJoinTests) -------------------------------------------------------

template <class Q>
class QueueJoinTest : public ::testing::Test {};
using QueueKinds = ::testing::Types<Queue<int>, LifoQueue<int>, PriorityQueue<int>>;
TYPED_TEST_SUITE(QueueJoinTest, QueueKinds);

TYPED_TEST(QueueJoinTest, TaskDoneUnderflow) {
  TypeParam q;
  EXPECT_THROW(q.task_done(), asyncio::ValueError);
  try {
    q.task_done();
  } catch (const asyncio::ValueError& e) {
    EXPECT_STREQ(e.what(), "task_done() called too many times");
  }
}

TYPED_TEST(QueueJoinTest, TaskDone) {
  asyncio::run([]() -> Coro<> {
    TypeParam q;
    for (int i = 0; i < 100; ++i) q.put_nowait(i);
    int accumulator = 0;
    bool running = true;
    auto worker = [](TypeParam& q, int& acc, bool& running) -> Coro<> {
      while (running) {
        int item = co_await q.get();
        acc += item;
        q.task_done();
      }
    };
    std::vector<Task<>> tasks;
    for (int i = 0; i < 2; ++i)
      tasks.push_back(asyncio::create_task(worker(q, accumulator, running)));
    co_await q.join();
    EXPECT_EQ(accumulator, 99 * 100 / 2);
    // Close the workers.
    running = false;
    for (std::size_t i = 0; i < tasks.size(); ++i) q.put_nowait(0);
    for (auto& t : tasks) co_await t;
  }());
}

TYPED_TEST(QueueJoinTest, JoinEmptyQueue) {
  asyncio::run([]() -> Coro<> {
    TypeParam q;
    // join() returns at once, twice.
    co_await q.join();
    co_await q.join();
  }());
}

TEST(QueueTest, JoinWaitsForEveryTaskDoneAndIsCancellable) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q;
    q.put_nowait(1);
    q.put_nowait(2);
    auto joiner = [](Queue<int>& q) -> Coro<> { co_await q.join(); };
    Task<> j1 = asyncio::create_task(joiner(q));
    Task<> j2 = asyncio::create_task(joiner(q));
    co_await yield();
    q.get_nowait();
    q.get_nowait();
    q.task_done();
    co_await yield();
    EXPECT_FALSE(j1.done());
    j2.cancel();
    EXPECT_TRUE(co_await ends_cancelled(j2));
    q.task_done();
    co_await j1;
    EXPECT_THROW(q.task_done(), asyncio::ValueError);
  }());
}

// ---- shutdown (Python 3.13) ------------------------------------------------------------------

TEST(QueueTest, ShutdownEmpty) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q;
    EXPECT_FALSE(q.is_shutdown());
    q.shutdown();
    EXPECT_TRUE(q.is_shutdown());
    EXPECT_THROW(q.put_nowait(1), asyncio::QueueShutDown);
    EXPECT_THROW(q.get_nowait(), asyncio::QueueShutDown);
    EXPECT_TRUE(co_await throws<asyncio::QueueShutDown>(asyncio::create_task(put_one(q, 1))));
    EXPECT_TRUE(co_await throws<asyncio::QueueShutDown>(asyncio::create_task(get_one(q))));
    co_await q.join();
  }());
}

TEST(QueueTest, ShutdownNonEmptyLetsGetsDrainFirst) {
  asyncio::run([]() -> Coro<> {
    Queue<std::string> q;
    q.put_nowait("data");
    q.put_nowait("more");
    q.shutdown();
    EXPECT_THROW(q.put_nowait("x"), asyncio::QueueShutDown);
    EXPECT_EQ(q.get_nowait(), "data");
    EXPECT_EQ(co_await q.get(), "more");
    EXPECT_THROW(q.get_nowait(), asyncio::QueueShutDown);
    EXPECT_TRUE(co_await throws<asyncio::QueueShutDown>(asyncio::create_task(get_one(q))));
    // join still counts the items: two task_done() release it.
    q.task_done();
    q.task_done();
    co_await q.join();
  }());
}

TEST(QueueTest, ShutdownImmediateDrainsAndReleasesJoin) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q;
    for (int i = 0; i < 3; ++i) q.put_nowait(i);
    EXPECT_EQ(q.get_nowait(), 0);  // gotten, not yet processed
    auto joiner = [](Queue<int>& q) -> Coro<> { co_await q.join(); };
    Task<> j = asyncio::create_task(joiner(q));
    co_await yield();
    q.shutdown(/*immediate=*/true);
    EXPECT_TRUE(q.empty());
    EXPECT_THROW(q.get_nowait(), asyncio::QueueShutDown);
    EXPECT_TRUE(co_await throws<asyncio::QueueShutDown>(asyncio::create_task(get_one(q))));
    co_await yield(2);
    EXPECT_FALSE(j.done());  // item 0 was taken by get and still needs its task_done
    q.task_done();
    co_await j;
    EXPECT_THROW(q.task_done(), asyncio::ValueError);
  }());
}

TEST(QueueTest, ShutdownWakesBlockedGettersAndPutters) {
  asyncio::run([]() -> Coro<> {
    Queue<int> empty;
    Task<int> g1 = asyncio::create_task(get_one(empty));
    Task<int> g2 = asyncio::create_task(get_one(empty));
    Queue<int> full(1);
    full.put_nowait(1);
    Task<> p1 = asyncio::create_task(put_one(full, 2));
    Task<> p2 = asyncio::create_task(put_one(full, 3));
    co_await yield();
    empty.shutdown();
    full.shutdown();
    EXPECT_TRUE(co_await throws<asyncio::QueueShutDown>(g1));
    EXPECT_TRUE(co_await throws<asyncio::QueueShutDown>(g2));
    EXPECT_TRUE(co_await throws<asyncio::QueueShutDown>(p1));
    EXPECT_TRUE(co_await throws<asyncio::QueueShutDown>(p2));
    EXPECT_EQ(full.qsize(), 1u);
    EXPECT_EQ(full.get_nowait(), 1);
  }());
}

TEST(QueueTest, ShutdownImmediateWakesGetterWokenByAnEarlierPut) {
  asyncio::run([]() -> Coro<> {
    Queue<int> q;
    Task<int> g = asyncio::create_task(get_one(q));
    co_await yield();
    q.put_nowait(1);                 // wakes g
    q.shutdown(/*immediate=*/true);  // ...but the item is gone before it runs
    EXPECT_TRUE(co_await throws<asyncio::QueueShutDown>(g));
  }());
}

// ---- Stress ----------------------------------------------------------------------------------

namespace {

constexpr int kProducers = 4;
constexpr int kConsumers = 4;
constexpr int kItemsEach = 10'000;

struct StressState {
  Queue<int> q{8};
  std::vector<int> seen = std::vector<int>(kProducers * kItemsEach, 0);
  std::uint64_t consumed = 0;
};

Coro<> producer(StressState& s, int id) {
  std::minstd_rand rng(static_cast<unsigned>(id + 1));
  for (int i = 0; i < kItemsEach; ++i) {
    co_await s.q.put(id * kItemsEach + i);
    if (rng() % 4 == 0) co_await asyncio::sleep(0s);
  }
}

Coro<> consumer(StressState& s, int id) {
  std::minstd_rand rng(static_cast<unsigned>(100 + id));
  while (true) {
    int item = co_await s.q.get();
    ++s.seen[static_cast<std::size_t>(item)];
    ++s.consumed;
    s.q.task_done();
    if (rng() % 3 == 0) co_await asyncio::sleep(0s);
  }
}

void check_exactly_once(const StressState& s) {
  EXPECT_EQ(s.consumed, static_cast<std::uint64_t>(kProducers) * kItemsEach);
  std::size_t wrong = 0;
  for (int n : s.seen) wrong += n != 1;
  EXPECT_EQ(wrong, 0u);
  EXPECT_TRUE(s.q.empty());
}

}  // namespace

TEST(QueueStressTest, ProducersAndConsumersEveryItemExactlyOnce) {
  asyncio::run([]() -> Coro<> {
    StressState s;
    std::vector<Task<>> producers;
    std::vector<Task<>> consumers;
    for (int i = 0; i < kConsumers; ++i) consumers.push_back(asyncio::create_task(consumer(s, i)));
    for (int i = 0; i < kProducers; ++i) producers.push_back(asyncio::create_task(producer(s, i)));
    for (auto& p : producers) co_await p;
    co_await s.q.join();
    check_exactly_once(s);
    for (auto& c : consumers) c.cancel();
    for (auto& c : consumers) EXPECT_TRUE(co_await ends_cancelled(c));
  }());
}

TEST(QueueStressTest, RandomCancellationsNeverLoseOrDuplicateItems) {
  asyncio::run([]() -> Coro<> {
    StressState s;
    std::vector<Task<>> producers;
    std::vector<Task<>> consumers;
    for (int i = 0; i < kConsumers; ++i) consumers.push_back(asyncio::create_task(consumer(s, i)));
    for (int i = 0; i < kProducers; ++i) producers.push_back(asyncio::create_task(producer(s, i)));
    // Chaos: cancel a random consumer (blocked, woken or running) and replace it.
    std::minstd_rand rng(7);
    int restarts = 0;
    auto all_produced = [&] {
      return std::all_of(producers.begin(), producers.end(), [](auto& p) { return p.done(); });
    };
    while (!all_produced()) {
      std::size_t k = rng() % consumers.size();
      consumers[k].cancel();
      EXPECT_TRUE(co_await ends_cancelled(consumers[k]));
      consumers[k] = asyncio::create_task(consumer(s, 1000 + restarts++));
      for (unsigned n = rng() % 5; n > 0; --n) co_await asyncio::sleep(0s);
    }
    for (auto& p : producers) co_await p;
    co_await s.q.join();
    check_exactly_once(s);
    EXPECT_GT(restarts, 10);
    for (auto& c : consumers) c.cancel();
    for (auto& c : consumers) EXPECT_TRUE(co_await ends_cancelled(c));
  }());
}
