// asyncio/wait.hpp — wait() and as_completed() (Python: asyncio.wait, asyncio.as_completed).
//
//   auto [done, pending] = co_await asyncio::wait(tasks, asyncio::FIRST_COMPLETED);
//   for (auto& next : asyncio::as_completed(std::move(coros))) int r = co_await next;
//
// wait() never cancels anything: on timeout it returns what is pending. Unlike Python, which
// returns sets, done/pending keep the input order (duplicates are dropped, as sets would).
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "asyncio/async_generator.hpp"  // StopAsyncIteration
#include "asyncio/detail/ensure_future.hpp"
#include "asyncio/detail/wait_done.hpp"

namespace asyncio {

/// When wait() returns (Python: asyncio.FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED).
enum class ReturnWhen { FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED };
/// As soon as one finishes (Python: asyncio.FIRST_COMPLETED).
inline constexpr ReturnWhen FIRST_COMPLETED = ReturnWhen::FIRST_COMPLETED;
/// When one raises, or all finish (Python: asyncio.FIRST_EXCEPTION).
inline constexpr ReturnWhen FIRST_EXCEPTION = ReturnWhen::FIRST_EXCEPTION;
/// When all finish (Python: asyncio.ALL_COMPLETED).
inline constexpr ReturnWhen ALL_COMPLETED = ReturnWhen::ALL_COMPLETED;

/// The (done, pending) pair wait() returns; usable with structured bindings.
template <class H>
struct WaitResult {
  std::vector<H> done;     ///< The awaitables that finished.
  std::vector<H> pending;  ///< Those still running (wait() does not cancel them).
};

namespace detail {

/// Watches a set of futures and completes `waiter` when the wait condition holds. Each node
/// linked into a watched future (or queued) holds a reference to this state.
class MultiWatch : public RefCounted {
 public:
  MultiWatch(EventLoop& loop, std::size_t n) : nodes_(std::make_unique<Node[]>(n)), size_(n) {
    waiter = loop.create_future<void>();
  }
  ~MultiWatch() override {
    timer.cancel();  // its callback points here
    for (std::size_t i = 0; i < size_; ++i) nodes_[i].unlink();
  }

  void watch(std::size_t i, FutureBase* f) {
    Node& n = nodes_[i];
    n.fire = &on_fire;
    n.owner = this;
    n.future = f;
    add_ref();
    f->add_callback(&n);
  }
  /// Stops reacting to completions (Python removes its done-callbacks when wait() ends).
  void detach() noexcept {
    finished_ = true;
    timer.cancel();
  }

  Future<void> waiter;
  TimerHandle timer;
  std::size_t remaining = 0;
  ReturnWhen return_when = ReturnWhen::ALL_COMPLETED;

  /// as_completed() mode: completed futures are queued here instead.
  bool queue_mode = false;
  std::deque<FutureBase*> completed;  // nullptr marks a timeout
  std::deque<Future<void>> getters;

  void wake_getter() {
    while (!getters.empty()) {
      Future<void> g = std::move(getters.front());
      getters.pop_front();
      if (!g.done()) {
        g.set_result();
        return;
      }
    }
  }
  void on_timeout() {
    if (queue_mode) {
      // Python: every future still in `todo` yields a TimeoutError, including one that is done
      // but whose done-callback has not run yet; completions after this are ignored.
      Ref<MultiWatch> keep(this);  // unlinked nodes drop their references here
      for (std::size_t i = 0; i < size_; ++i) {
        Node& n = nodes_[i];
        if (n.reported) continue;
        n.reported = true;
        completed.push_back(nullptr);
        if (n.linked()) {
          n.unlink();
          release();
        }  // else queued: it releases its reference when it runs
      }
      finished_ = true;
      remaining = 0;
      for (std::size_t k = getters.size(); k > 0; --k) wake_getter();
    } else if (!waiter.done()) {
      waiter.set_result();
    }
  }

 private:
  struct Node : CallbackNode {
    MultiWatch* owner = nullptr;
    FutureBase* future = nullptr;
    bool reported = false;  // queue mode: its completion (or timeout) was queued
  };

  static void on_fire(void* p, bool discard) {
    auto* n = static_cast<Node*>(static_cast<CallbackNode*>(p));
    MultiWatch* self = n->owner;
    if (!discard && !self->finished_) {
      n->reported = true;
      self->completed_one(*n->future);
    }
    self->release();
  }

  void completed_one(FutureBase& f) {
    if (remaining > 0) --remaining;
    if (queue_mode) {
      completed.push_back(&f);
      if (remaining == 0) timer.cancel();
      wake_getter();
      return;
    }
    bool failed = return_when == ReturnWhen::FIRST_EXCEPTION && !f.cancelled() && f.exception();
    if (remaining == 0 || return_when == ReturnWhen::FIRST_COMPLETED || failed) {
      timer.cancel();
      if (!waiter.done()) waiter.set_result();
    }
  }

  std::unique_ptr<Node[]> nodes_;
  std::size_t size_;
  bool finished_ = false;
};

template <class H>
std::vector<H> unique_futures(std::vector<H> fs) {
  std::vector<H> out;
  out.reserve(fs.size());
  for (auto& f : fs) {
    bool seen = false;
    for (const auto& o : out) seen = seen || o.impl() == f.impl();
    if (!seen) out.push_back(std::move(f));
  }
  return out;
}

template <class H>
Coro<WaitResult<H>> wait_impl(std::vector<H> fs, std::optional<Duration> timeout,
                              ReturnWhen return_when) {
  if (fs.empty()) throw ValueError("Set of Tasks/Futures is empty.");
  fs = unique_futures(std::move(fs));
  EventLoop& loop = get_running_loop();
  // Python watches a future of another loop anyway (and its callback then runs on that loop,
  // maybe in another thread); here that would be a data race, so it is refused as
  // as_completed() refuses it.
  for (const H& f : fs) check_loop(f, loop);
  Ref<MultiWatch> w(new MultiWatch(loop, fs.size()));
  w->remaining = fs.size();
  w->return_when = return_when;
  if (timeout) {
    MultiWatch* raw = w.get();
    w->timer = loop.call_later(*timeout, [raw] { raw->on_timeout(); });
  }
  for (std::size_t i = 0; i < fs.size(); ++i) w->watch(i, fs[i].impl());
  struct Detach {
    MultiWatch* w;
    ~Detach() { w->detach(); }
  } detach{w.get()};
  co_await w->waiter;
  WaitResult<H> result;
  for (auto& f : fs) (f.done() ? result.done : result.pending).push_back(std::move(f));
  co_return result;
}

/// One step of as_completed(): waits for the next completion. `Resolve` (plain iteration, the
/// 3.12 form): gives its result or throws its exception; else (async iteration, 3.13): gives
/// the task or future itself (Python: _AsCompletedIterator._wait_for_one(resolve)).
template <class H, bool Resolve = true>
Coro<std::conditional_t<Resolve, value_of_t<H>, H>> wait_for_one(
    Ref<MultiWatch> w, std::shared_ptr<std::vector<H>> all, bool owned) {
  while (w->completed.empty()) {
    Future<void> getter = get_running_loop().create_future<void>();
    w->getters.push_back(getter);
    try {
      co_await getter;
    } catch (...) {
      // Woken and cancelled at once: pass the completion on to the next waiter (as Queue.get).
      if (!w->completed.empty()) w->wake_getter();
      throw;
    }
  }
  FutureBase* f = w->completed.front();
  w->completed.pop_front();
  if (f == nullptr) throw TimeoutError("asyncio::TimeoutError: as_completed() timed out");
  for (const H& h : *all) {
    if (h.impl() == f) {
      if constexpr (!Resolve) {
        co_return h;
      } else if constexpr (std::is_void_v<value_of_t<H>>) {
        h.result();
        co_return;
      } else {
        co_return take_value(h, owned);
      }
    }
  }
  throw RuntimeError("as_completed(): internal error, unknown future");
}

}  // namespace detail

/// What as_completed() returns: the 3.12 form, one coroutine per input whose k-th gives the
/// k-th result to complete (`for (auto& next : as_completed(v)) co_await next;`), and the 3.13
/// asynchronous iterator, which gives the original tasks and futures (the tasks it created for
/// coroutines) in completion order:
///
///     auto it = asyncio::as_completed(std::move(tasks));
///     while (auto t = co_await it.next()) use(co_await *t);   // async for t in as_completed(..)
///
/// Both forms take from the same completions; use one per object. Python 3.13:
/// `_AsCompletedIterator`, `async for` / `for` over `asyncio.as_completed(aws)`.
template <class H, class V>
class [[nodiscard]] AsCompleted : public std::vector<Coro<V>> {
 public:
  /// Internal: built by as_completed().
  AsCompleted(std::vector<Coro<V>> coros, detail::Ref<detail::MultiWatch> w,
              std::shared_ptr<std::vector<H>> all)
      : std::vector<Coro<V>>(std::move(coros)),
        w_(std::move(w)),
        all_(std::move(all)),
        left_(all_->size()) {}

  /// The `async for` step: the next task or future to complete (done when it comes back), or
  /// std::nullopt once every input was given. Throws TimeoutError once the timeout passed.
  /// Python 3.13: `async for f in as_completed(aws)` (`__anext__`, StopAsyncIteration as
  /// nullopt).
  [[nodiscard]] Coro<std::optional<H>> next() {
    if (left_ == 0) return none();
    --left_;
    return some(detail::wait_for_one<H, false>(w_, all_, false));
  }
  /// As next(), but throws StopAsyncIteration at the end. Python 3.13: `await anext(it)`.
  [[nodiscard]] Coro<H> anext() {
    if (left_ == 0) throw StopAsyncIteration();
    --left_;
    return detail::wait_for_one<H, false>(w_, all_, false);
  }

 private:
  static Coro<std::optional<H>> none() { co_return std::nullopt; }
  static Coro<std::optional<H>> some(Coro<H> one) { co_return co_await std::move(one); }

  detail::Ref<detail::MultiWatch> w_;
  std::shared_ptr<std::vector<H>> all_;
  std::size_t left_;  // inputs not given by next()/anext() yet (Python: _todo_left)
};

/// Waits for the tasks/futures until `return_when` holds or `timeout` passes (Python:
/// asyncio.wait). Returns {done, pending}; cancels nothing. Throws ValueError when empty.
/// Coroutines are not accepted (as in Python 3.11+): wrap them with create_task().
template <class H>
Coro<WaitResult<H>> wait(std::vector<H> fs, std::optional<Duration> timeout,
                         ReturnWhen return_when = ALL_COMPLETED) {
  static_assert(detail::is_future_handle_v<H>,
                "asyncio::wait(): Passing coroutines is forbidden, use tasks explicitly. "
                "(Python's TypeError: wait() takes Tasks and Futures only; wrap each awaitable "
                "with asyncio::create_task())");
  return detail::wait_impl(std::move(fs), timeout, return_when);
}
/// wait() without a timeout (Python: asyncio.wait(fs, return_when=...)).
template <class H>
Coro<WaitResult<H>> wait(std::vector<H> fs, ReturnWhen return_when = ALL_COMPLETED) {
  static_assert(detail::is_future_handle_v<H>,
                "asyncio::wait(): Passing coroutines is forbidden, use tasks explicitly. "
                "(Python's TypeError: wait() takes Tasks and Futures only; wrap each awaitable "
                "with asyncio::create_task())");
  return detail::wait_impl(std::move(fs), std::nullopt, return_when);
}

/// Returns one awaitable per input; the k-th one yields the k-th result to complete (Python:
/// asyncio.as_completed). After `timeout`, the remaining ones throw TimeoutError. The result
/// is also an asynchronous iterator over the tasks/futures themselves (Python 3.13): see
/// AsCompleted.
template <class A>
requires detail::FutureLike<A> AsCompleted<detail::future_of_t<A>, detail::value_of_t<A>>
as_completed(std::vector<A> aws, std::optional<Duration> timeout = {}) {
  using H = detail::future_of_t<A>;
  EventLoop& loop = get_running_loop();
  auto all = std::make_shared<std::vector<H>>();
  for (auto& a : aws) all->push_back(detail::ensure_future(std::move(a)));
  *all = detail::unique_futures(std::move(*all));
  for (const H& f : *all) detail::check_loop(f, loop);  // Python: ensure_future(f, loop=loop)
  detail::Ref<detail::MultiWatch> w(new detail::MultiWatch(loop, all->size()));
  w->queue_mode = true;
  w->remaining = all->size();
  for (std::size_t i = 0; i < all->size(); ++i) w->watch(i, (*all)[i].impl());
  if (!all->empty() && timeout) {
    detail::MultiWatch* raw = w.get();
    w->timer = loop.call_later(*timeout, [raw] { raw->on_timeout(); });
  }
  std::vector<Coro<detail::value_of_t<A>>> out;
  const bool owned = detail::FutureOf<A>::creates_task;
  for (std::size_t i = 0; i < all->size(); ++i) {
    out.push_back(detail::wait_for_one<H>(w, all, owned));
    // Python creates each one only when the iteration asks for it: dropping them unawaited
    // is not a mistake here.
    detail::CoroAccess::mute_never_awaited(out.back());
  }
  return {std::move(out), std::move(w), std::move(all)};
}

}  // namespace asyncio
