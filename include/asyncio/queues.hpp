// asyncio/queues.hpp — Queue, PriorityQueue, LifoQueue (Python: asyncio.queues, with
// Python 3.13's shutdown()).
//
//   asyncio::Queue<Job> q(8);              // at most 8 items; 0 (the default) is unbounded
//   co_await q.put(std::move(job));        // waits while the queue is full
//   Job j = co_await q.get();              // waits while it is empty
//   q.task_done();                         // after processing what get() returned
//   co_await q.join();                     // until every item put was processed
//
// Like Python's, these queues are for tasks of one event loop: they are not thread-safe (use
// loop.call_soon_threadsafe to feed one from another thread). A queue binds to the loop of
// the first task that waits on it; waiting on it from another loop throws RuntimeError.
//
// Semantics are Python's, to the letter:
//   - put()/get() that can complete at once do not suspend (and see no cancellation).
//   - Blocked getters (putters) are served first come, first served; a woken waiter that
//     finds the condition gone again (another task took the item) waits again at the back.
//   - Cancellation never loses or duplicates an item: a cancelled get() took nothing, a
//     cancelled put() put nothing. A waiter that was woken but is cancelled before it runs
//     passes its wake-up on to the next waiter.
//   - T may be move-only (std::unique_ptr<...>).
// Lifetime: a queue must outlive every get(), put() and join() pending on it.
#pragma once

#include <algorithm>
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "asyncio/detail/future_base.hpp"
#include "asyncio/detail/intrusive_list.hpp"
#include "asyncio/events.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

/// get_nowait() on an empty queue (Python: asyncio.QueueEmpty). what() is empty, as Python's
/// str() of the QueueEmpty that get_nowait() raises; format_exception() prints "QueueEmpty".
class QueueEmpty : public std::runtime_error {
 public:
  QueueEmpty() : std::runtime_error("") {}
};

/// put_nowait() on a full queue (Python: asyncio.QueueFull). what() is empty, as Python's
/// str() of the QueueFull that put_nowait() raises; format_exception() prints "QueueFull".
class QueueFull : public std::runtime_error {
 public:
  QueueFull() : std::runtime_error("") {}
};

/// put() on a queue that was shut down, or get() on one that was shut down and is empty
/// (Python 3.13: asyncio.QueueShutDown).
class QueueShutDown : public std::runtime_error {
 public:
  QueueShutDown() : std::runtime_error("asyncio::QueueShutDown: the queue was shut down") {}
};

namespace detail {

class QueueCore;

/// A get(), put() or join() blocked on a queue. Lives in the awaiter, hence in the suspended
/// coroutine's frame: blocking allocates nothing. Follows the leaf-awaiter protocol
/// (docs/internals.md); the waiter plays the part of Python's getter/putter future.
class QueueWaiter final : public ListNode, public Suspension {
 public:
  enum class Kind : std::uint8_t { Get, Put, Join };

  QueueWaiter(QueueCore& queue, Kind kind) noexcept : queue_(&queue), kind_(kind) {}
  /// Movable until awaited (so that wait_for(), gather()... can take get/put/join): not
  /// linked yet. Pinned once suspended.
  QueueWaiter(QueueWaiter&& o) noexcept
      : ListNode(), Suspension(), queue_(o.queue_), kind_(o.kind_) {
    assert(o.state_ == State::Idle && !o.linked() && "awaiter moved after co_await");
  }
  QueueWaiter& operator=(QueueWaiter&&) = delete;
  /// Unregisters (nothing is scheduled) if the frame dies while waiting.
  ~QueueWaiter() { unlink(); }

  /// await_suspend: joins the queue's waiters of this kind and suspends the current task.
  void wait(std::coroutine_handle<> h);
  bool cancel_awaited(const std::string& message) override;
  /// await_resume's first step: throws CancelledError if the wait was cancelled (passing a
  /// wake-up already received on to the next waiter, as Python's get()/put() do).
  void resumed();

  /// Call graphs: "Queue.get", "Queue.put" or "Queue.join".
  std::string describe_wait() const override {
    return kind_ == Kind::Get ? "Queue.get" : kind_ == Kind::Put ? "Queue.put" : "Queue.join";
  }

 private:
  friend class QueueCore;
  /// Idle: never suspended. Waiting: linked in the queue. Woken: unlinked by the queue, a
  /// wake-up is scheduled (Python: the future has a result). Cancelled: unlinked by
  /// cancel_awaited, a wake-up is scheduled (Python: the future is cancelled).
  enum class State : std::uint8_t { Idle, Waiting, Woken, Cancelled };

  /// Called by the queue after unlinking this waiter.
  void wake() noexcept;
  void schedule() noexcept;
  /// The ready-queue entry: re-checks the condition (Python's `while` loop) and either runs
  /// the task or waits again at the back of the line.
  static void on_wake(void* self, bool discard);

  QueueCore* queue_;
  TaskBase* task_ = nullptr;
  std::string message_;
  Kind kind_;
  State state_ = State::Idle;
  bool cancel_requested_ = false;  // cancelled while Woken: the task has must_cancel set
};

/// Everything of a queue that does not depend on the item type: sizes, waiters, join
/// accounting, shutdown. Defined in src/queues.cpp.
class QueueCore {
 public:
  QueueCore(const QueueCore&) = delete;
  QueueCore& operator=(const QueueCore&) = delete;

  /// Number of items in the queue (Python: qsize()).
  std::size_t qsize() const noexcept { return size_; }
  /// The capacity given at construction; 0 means unbounded (Python: maxsize).
  std::size_t maxsize() const noexcept { return maxsize_; }
  /// Whether the queue holds no item.
  bool empty() const noexcept { return size_ == 0; }
  /// Whether it holds maxsize() items; never true for an unbounded queue.
  bool full() const noexcept { return maxsize_ > 0 && size_ >= maxsize_; }
  /// Whether shutdown() was called (Python 3.13: is_shutdown isn't public; this is handy).
  bool is_shutdown() const noexcept { return shutdown_; }
  /// Tasks blocked in get() (Python: len(q._getters), shown by str(q)).
  std::size_t waiting_getters() const noexcept { return getters_.size(); }
  /// Tasks blocked in put() (Python: len(q._putters), shown by str(q)).
  std::size_t waiting_putters() const noexcept { return putters_.size(); }
  /// Items put and not yet marked task_done() (Python: q._unfinished_tasks).
  std::size_t unfinished_tasks() const noexcept { return unfinished_; }

  /// Marks one item fetched with get() as processed (Python: task_done()). When every item
  /// ever put has been processed, join() returns. Throws ValueError("task_done() called too
  /// many times") if there is no unprocessed item.
  void task_done();

 protected:
  explicit QueueCore(std::size_t maxsize) noexcept : maxsize_(maxsize) {}
  /// Detaches waiters still linked (a queue destroyed under waiting tasks leaves them
  /// waiting forever rather than pointing into freed memory).
  ~QueueCore();

  /// Throws what put_nowait() throws: QueueShutDown, then QueueFull.
  void check_can_put() const;
  /// Throws what get_nowait() throws: QueueShutDown if shut down and empty, else QueueEmpty.
  void check_can_get() const;
  /// Bookkeeping after an item was stored: counts it and wakes the next getter.
  void after_put() noexcept;
  /// Bookkeeping after an item was removed by get: wakes the next putter.
  void after_get() noexcept;
  /// Marks the queue shut down; `drained` items were just removed (immediate shutdown), each
  /// counting as task_done(). Wakes every blocked getter and putter.
  void after_shutdown(std::size_t drained) noexcept;
  /// For join(): whether every item put was processed.
  bool all_done() const noexcept { return unfinished_ == 0; }

 private:
  friend class QueueWaiter;

  IntrusiveList<QueueWaiter>& waiters(QueueWaiter::Kind kind) noexcept;
  /// Whether a woken waiter of `kind` may proceed (else it waits again).
  bool may_proceed(QueueWaiter::Kind kind) const noexcept;
  /// Python's _wakeup_next: wakes the first waiter of the list, if any.
  static void wakeup_next(IntrusiveList<QueueWaiter>& list) noexcept;
  static void wake_all(IntrusiveList<QueueWaiter>& list) noexcept;
  void bind_loop(EventLoop& loop);

  IntrusiveList<QueueWaiter> getters_;
  IntrusiveList<QueueWaiter> putters_;
  IntrusiveList<QueueWaiter> joiners_;
  EventLoop* loop_ = nullptr;
  std::size_t maxsize_;
  std::size_t size_ = 0;
  std::size_t unfinished_ = 0;
  bool shutdown_ = false;
};

/// FIFO storage (Python: collections.deque).
template <class T>
struct FifoStorage {
  std::deque<T> items;
  void push(T&& item) { items.push_back(std::move(item)); }
  T pop() {
    T item = std::move(items.front());
    items.pop_front();
    return item;
  }
};

/// LIFO storage (Python: a list used as a stack).
template <class T>
struct LifoStorage {
  std::vector<T> items;
  void push(T&& item) { items.push_back(std::move(item)); }
  T pop() {
    T item = std::move(items.back());
    items.pop_back();
    return item;
  }
};

/// A binary min-heap under Compare (Python: heapq on a list): pop() gives the smallest.
template <class T, class Compare>
struct HeapStorage {
  std::vector<T> items;
  [[no_unique_address]] Compare less;

  /// std's heap algorithms keep the largest first; inverting the order keeps the smallest.
  struct Greater {
    Compare* less;
    bool operator()(const T& a, const T& b) const { return (*less)(b, a); }
  };
  void push(T&& item) {
    items.push_back(std::move(item));
    std::push_heap(items.begin(), items.end(), Greater{&less});
  }
  T pop() {
    std::pop_heap(items.begin(), items.end(), Greater{&less});
    T item = std::move(items.back());
    items.pop_back();
    return item;
  }
};

/// The queue proper: Queue, LifoQueue and PriorityQueue differ only in Storage.
template <class T, class Storage>
class BasicQueue : public QueueCore {
 public:
  /// The item type.
  using value_type = T;

  // ---- Awaiters (returned by get/put/join; await them at once) ------------------------------
  // Each holds its waiter node, so a blocked get/put/join allocates nothing. Movable until
  // awaited (wait_for(q.get(), t), shield(q.get())...), pinned once suspended.

  /// What get() returns; `co_await` gives the item.
  class [[nodiscard]] GetAwaiter {
   public:
    explicit GetAwaiter(BasicQueue& q) noexcept : queue_(&q), waiter_(q, QueueWaiter::Kind::Get) {}
    /// No suspension when an item is there (or the queue is shut down: get then throws).
    bool await_ready() const noexcept { return !queue_->empty() || queue_->is_shutdown(); }
    /// Joins the getters' line (throws RuntimeError outside a task or on another loop).
    void await_suspend(std::coroutine_handle<> h) { waiter_.wait(h); }
    /// The item (Python: get_nowait() after the wait); throws CancelledError/QueueShutDown.
    T await_resume() {
      waiter_.resumed();
      return queue_->get_nowait();
    }

   private:
    BasicQueue* queue_;
    QueueWaiter waiter_;
  };

  /// What put() returns; holds the item until it is stored (dropped if cancelled).
  class [[nodiscard]] PutAwaiter {
   public:
    PutAwaiter(BasicQueue& q, T&& item)
        : queue_(&q), waiter_(q, QueueWaiter::Kind::Put), item_(std::move(item)) {}
    /// No suspension when there is room (or the queue is shut down: put then throws).
    bool await_ready() const noexcept { return !queue_->full() || queue_->is_shutdown(); }
    /// Joins the putters' line (throws RuntimeError outside a task or on another loop).
    void await_suspend(std::coroutine_handle<> h) { waiter_.wait(h); }
    /// Stores the item (Python: put_nowait() after the wait); throws CancelledError or
    /// QueueShutDown, and then nothing was stored.
    void await_resume() {
      waiter_.resumed();
      queue_->push_checked(std::move(item_));
    }

   private:
    BasicQueue* queue_;
    QueueWaiter waiter_;
    T item_;
  };

  /// What join() returns.
  class [[nodiscard]] JoinAwaiter {
   public:
    explicit JoinAwaiter(BasicQueue& q) noexcept
        : queue_(&q), waiter_(q, QueueWaiter::Kind::Join) {}
    /// No suspension when every item put was processed.
    bool await_ready() const noexcept { return queue_->all_done(); }
    /// Waits for the last task_done() (or an immediate shutdown that finishes the count).
    void await_suspend(std::coroutine_handle<> h) { waiter_.wait(h); }
    /// Throws CancelledError if cancelled while waiting.
    void await_resume() { waiter_.resumed(); }

   private:
    BasicQueue* queue_;
    QueueWaiter waiter_;
  };

  // ---- The queue API ------------------------------------------------------------------------

  /// The items in storage order (Python: q._queue, shown by str(q)): FIFO and LIFO in push
  /// order, a PriorityQueue in its heap's order.
  const auto& storage_items() const noexcept { return storage_.items; }

  /// `co_await q.put(item)`: puts `item`, first waiting while the queue is full (Python:
  /// put()). Throws QueueShutDown if the queue is (or gets, while waiting) shut down, and
  /// CancelledError if cancelled while waiting — then nothing was put.
  [[nodiscard]] PutAwaiter put(T item) { return PutAwaiter(*this, std::move(item)); }

  /// `co_await q.get()`: removes and returns an item, first waiting while the queue is empty
  /// (Python: get()). Throws QueueShutDown once the queue is shut down and empty, and
  /// CancelledError if cancelled while waiting — then nothing was taken.
  [[nodiscard]] GetAwaiter get() noexcept { return GetAwaiter(*this); }

  /// Puts `item` without waiting (Python: put_nowait()). Throws QueueShutDown if shut down,
  /// QueueFull if full.
  void put_nowait(T item) { push_checked(std::move(item)); }

  /// Removes and returns an item without waiting (Python: get_nowait()). Throws
  /// QueueShutDown if shut down and empty, QueueEmpty if empty.
  T get_nowait() {
    check_can_get();
    T item = storage_.pop();
    after_get();
    return item;
  }

  /// `co_await q.join()`: waits until every item put has been processed, i.e. task_done()
  /// was called once for each (Python: join()). Returns at once if none is outstanding.
  [[nodiscard]] JoinAwaiter join() noexcept { return JoinAwaiter(*this); }

  /// Shuts the queue down (Python 3.13: shutdown()): put()/put_nowait() then throw
  /// QueueShutDown, and get()/get_nowait() too once the queue is empty. Blocked putters and
  /// getters are woken (and throw QueueShutDown if they cannot proceed). With `immediate`,
  /// the items left are discarded, each counting as task_done() (which may release join()),
  /// so gets throw at once.
  void shutdown(bool immediate = false) {
    std::size_t drained = 0;
    if (immediate) {
      drained = qsize();
      storage_.items.clear();
    }
    after_shutdown(drained);
  }

 protected:
  explicit BasicQueue(std::size_t maxsize) : QueueCore(maxsize) {}
  BasicQueue(std::size_t maxsize, Storage storage)
      : QueueCore(maxsize), storage_(std::move(storage)) {}
  ~BasicQueue() = default;

 private:
  void push_checked(T&& item) {
    check_can_put();
    storage_.push(std::move(item));
    after_put();
  }

  Storage storage_;
};

}  // namespace detail

/// A first-in, first-out queue for coordinating producer and consumer tasks (Python:
/// asyncio.Queue). See the file comment and detail::BasicQueue for the members.
template <class T>
class Queue : public detail::BasicQueue<T, detail::FifoStorage<T>> {
 public:
  /// A queue holding at most `maxsize` items (0: unbounded).
  explicit Queue(std::size_t maxsize = 0)
      : detail::BasicQueue<T, detail::FifoStorage<T>>(maxsize) {}
};

/// A queue that returns the most recently added item first (Python: asyncio.LifoQueue).
template <class T>
class LifoQueue : public detail::BasicQueue<T, detail::LifoStorage<T>> {
 public:
  /// A queue holding at most `maxsize` items (0: unbounded).
  explicit LifoQueue(std::size_t maxsize = 0)
      : detail::BasicQueue<T, detail::LifoStorage<T>>(maxsize) {}
};

/// A queue that returns the smallest item under `Compare` first, like heapq (Python:
/// asyncio.PriorityQueue). Typical items are (priority, data) pairs or tuples. Items that
/// compare equal come out in no particular order.
template <class T, class Compare = std::less<T>>
class PriorityQueue : public detail::BasicQueue<T, detail::HeapStorage<T, Compare>> {
  using Base = detail::BasicQueue<T, detail::HeapStorage<T, Compare>>;

 public:
  /// A queue holding at most `maxsize` items (0: unbounded), ordered by `compare`.
  explicit PriorityQueue(std::size_t maxsize = 0, Compare compare = Compare())
      : Base(maxsize, detail::HeapStorage<T, Compare>{{}, std::move(compare)}) {}
};

}  // namespace asyncio
