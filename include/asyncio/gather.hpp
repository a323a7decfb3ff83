// asyncio/gather.hpp — gather(): run awaitables concurrently, collect results in order
// (Python: asyncio.gather).
//
//   auto [a, b] = co_await asyncio::gather(fetch(1), fetch(2));          // std::tuple
//   std::vector<int> v = co_await asyncio::gather(std::move(coros));     // homogeneous
//   auto outs = co_await asyncio::gather(asyncio::return_exceptions, f(), g());
//
// Semantics (as Python 3.12):
//   - Coroutines and other awaiters (sleep(), q.get()...) are wrapped in tasks at once
//     (gather is eager, even if never awaited).
//   - Results come in argument order. A child returning void yields asyncio::Void.
//   - Without return_exceptions, the first exception (or a child's cancellation, as
//     CancelledError) is propagated at once; the other children keep running.
//   - With return_exceptions, each slot is an Outcome<T>: the value or the exception
//     (a cancelled child gives a CancelledError).
//   - Cancelling the returned future (or the task awaiting it) cancels every child not yet
//     done; the gather then fails with CancelledError whatever return_exceptions says.
#pragma once

#include <array>
#include <memory>
#include <tuple>
#include <vector>

#include "asyncio/detail/ensure_future.hpp"
#include "asyncio/outcome.hpp"

namespace asyncio {

namespace detail {

/// The "gathering future": completes when the children do (Python: _GatheringFuture).
template <class R>
class GatherCore : public FutureImpl<R> {
 public:
  GatherCore(EventLoop& loop, std::size_t n, bool return_exceptions)
      : FutureImpl<R>(loop),
        nodes_(std::make_unique<ChildNode[]>(n)),
        count_(n),
        return_exceptions_(return_exceptions) {}

  bool cancel(const std::string& message) override {
    if (this->done()) return false;
    bool any = false;
    for (std::size_t i = 0; i < count_; ++i) {
      if (nodes_[i].child->cancel(message)) any = true;
    }
    if (any) cancel_requested_ = true;
    return any;
  }

 protected:
  /// Watches child `i`. Each linked node holds a reference to this gather.
  void watch(std::size_t i, FutureBase* child) {
    ChildNode& node = nodes_[i];
    node.fire = &on_child;
    node.owner = this;
    node.child = child;
    this->add_ref();
    add_awaited_by_current_task(*child);  // call graphs: the gathering task awaits each child
    // Children already done are handled by run_done_children(), synchronously (Python).
    if (!child->done()) child->add_callback(&node);
  }
  /// Python: `for fut in done_futs: _done_callback(fut)` once every child is watched, so a
  /// gather of futures that are all done is itself done when gather() returns.
  void run_done_children() {
    for (std::size_t i = 0; i < count_; ++i) {
      if (!nodes_[i].linked()) on_child(static_cast<CallbackNode*>(&nodes_[i]), false);
    }
  }
  /// All children are done and none failed early: store the result and finish.
  virtual void complete() = 0;
  bool return_exceptions() const noexcept { return return_exceptions_; }

 private:
  struct ChildNode : CallbackNode {
    GatherCore* owner = nullptr;
    FutureBase* child = nullptr;
  };

  static void on_child(void* p, bool discard) {
    auto* node = static_cast<ChildNode*>(static_cast<CallbackNode*>(p));
    GatherCore* self = node->owner;
    if (!discard) self->child_done(*node->child);
    self->release();
  }

  void child_done(FutureBase& child) {
    ++finished_;
    if (this->done()) {
      if (!child.cancelled()) child.exception();  // mark retrieved: the gather reported one
      return;
    }
    if (!return_exceptions_) {
      if (child.cancelled()) {
        this->set_exception(std::make_exception_ptr(child.make_cancelled_error()));
        return;
      }
      if (std::exception_ptr e = child.exception()) {
        this->set_exception(std::move(e));
        return;
      }
    }
    if (finished_ == count_) {
      if (cancel_requested_) {
        this->set_exception(std::make_exception_ptr(child.make_cancelled_error()));
        return;
      }
      try {
        complete();
      } catch (...) {
        if (!this->done()) this->set_exception(std::current_exception());
      }
    }
  }

  std::unique_ptr<ChildNode[]> nodes_;
  std::size_t count_;
  std::size_t finished_ = 0;
  bool return_exceptions_;
  bool cancel_requested_ = false;
};

template <bool ReturnExc, class H>
auto gather_slot(const H& f, bool sole_owner) {
  if constexpr (ReturnExc) {
    using V = non_void_t<typename H::value_type>;
    if (f.cancelled()) {
      // CPython 3.12 builds CancelledError(fut._cancel_message or ''): a task cancelled
      // through its coroutine keeps no message there, so a task gives CancelledError('')
      // and a plain future keeps its cancel(msg).
      if (f.impl()->is_task()) return Outcome<V>(std::make_exception_ptr(CancelledError()));
      return Outcome<V>(std::make_exception_ptr(f.impl()->make_cancelled_error()));
    }
    if (std::exception_ptr e = f.exception()) return Outcome<V>(e);
    return Outcome<V>(take_value(f, sole_owner));
  } else {
    return take_value(f, sole_owner);
  }
}

template <bool ReturnExc, class H>
using gather_slot_t = decltype(gather_slot<ReturnExc>(std::declval<const H&>(), false));

template <bool ReturnExc, class... Hs>
class TupleGather final : public GatherCore<std::tuple<gather_slot_t<ReturnExc, Hs>...>> {
  using R = std::tuple<gather_slot_t<ReturnExc, Hs>...>;

 public:
  TupleGather(EventLoop& loop, std::tuple<Hs...> children, std::array<bool, sizeof...(Hs)> owned)
      : GatherCore<R>(loop, sizeof...(Hs), ReturnExc),
        children_(std::move(children)),
        owned_(owned) {}

  void start() {
    std::apply(
        [&](const auto&... h) {
          std::size_t i = 0;
          (this->watch(i++, h.impl()), ...);
        },
        children_);
    this->run_done_children();
  }

 private:
  void complete() override {
    this->value.emplace(build(std::index_sequence_for<Hs...>{}));
    this->mark_finished();
  }
  template <std::size_t... I>
  R build(std::index_sequence<I...>) {
    return R(gather_slot<ReturnExc>(std::get<I>(children_), owned_[I])...);
  }

  std::tuple<Hs...> children_;
  std::array<bool, sizeof...(Hs)> owned_;
};

template <bool ReturnExc, class H>
class RangeGather final : public GatherCore<std::vector<gather_slot_t<ReturnExc, H>>> {
  using R = std::vector<gather_slot_t<ReturnExc, H>>;

 public:
  RangeGather(EventLoop& loop, std::vector<H> children, bool owned)
      : GatherCore<R>(loop, children.size(), ReturnExc),
        children_(std::move(children)),
        owned_(owned) {}

  void start() {
    for (std::size_t i = 0; i < children_.size(); ++i) this->watch(i, children_[i].impl());
    this->run_done_children();
  }

 private:
  void complete() override {
    R results;
    results.reserve(children_.size());
    for (const H& h : children_) results.push_back(gather_slot<ReturnExc>(h, owned_));
    this->value.emplace(std::move(results));
    this->mark_finished();
  }

  std::vector<H> children_;
  bool owned_;
};

/// Which loop a gather belongs to (Python: the first child's). Children made from coroutines
/// (`created`) take the gather's loop; a future of any other loop raises ValueError, as Python's
/// ensure_future(fut, loop=loop) does. Returns nullptr for the running loop.
class GatherLoop {
 public:
  explicit GatherLoop(EventLoop& running) noexcept : running_(&running) {}
  void add(EventLoop& child, bool created) {
    EventLoop* l = created ? (loop_ ? loop_ : running_) : &child;
    if (!loop_) {
      loop_ = l;
    } else if (l != loop_) {
      throw ValueError(kDifferentLoopMessage);
    }
  }
  EventLoop* foreign() const noexcept { return loop_ == running_ ? nullptr : loop_; }

 private:
  EventLoop* running_;
  EventLoop* loop_ = nullptr;
};

/// The gathering future of futures of another loop: a pending future of that loop, so that
/// awaiting it raises Python's RuntimeError. Nothing of the children is touched (their loop
/// may run in another thread), so it never completes (Python's would complete on that loop).
template <class R>
Future<R> foreign_gather(EventLoop& foreign) {
  return Future<R>{Ref<FutureImpl<R>>(new FutureImpl<R>(foreign))};
}

template <class A>
concept FutureLike = requires {
  typename FutureOf<std::remove_cvref_t<A>>::type;
};

template <bool ReturnExc, class... Aws>
auto gather_tuple(Aws&&... aws) {
  using G = TupleGather<ReturnExc, future_of_t<Aws>...>;
  using R = std::tuple<gather_slot_t<ReturnExc, future_of_t<Aws>>...>;
  EventLoop& loop = get_running_loop();
  std::array<bool, sizeof...(Aws)> owned{FutureOf<std::remove_cvref_t<Aws>>::creates_task...};
  // Build the children left to right (braced init guarantees the order).
  std::tuple<future_of_t<Aws>...> children{detail::ensure_future(std::forward<Aws>(aws))...};
  GatherLoop gather_loop(loop);
  std::apply(
      [&](const auto&... h) {
        [[maybe_unused]] std::size_t i = 0;
        (gather_loop.add(h.get_loop(), owned[i++]), ...);
      },
      children);
  if (EventLoop* foreign = gather_loop.foreign()) [[unlikely]]
    return foreign_gather<R>(*foreign);
  auto* g = new G(loop, std::move(children), owned);
  Future<R> outer{Ref<FutureImpl<R>>(g)};
  if constexpr (sizeof...(Aws) == 0) {
    outer.set_result(R{});
  } else {
    g->start();
  }
  return outer;
}

template <bool ReturnExc, class A>
auto gather_range(std::vector<A> aws) {
  using H = future_of_t<A>;
  using G = RangeGather<ReturnExc, H>;
  using R = std::vector<gather_slot_t<ReturnExc, H>>;
  EventLoop& loop = get_running_loop();
  std::vector<H> children;
  children.reserve(aws.size());
  for (auto& a : aws) children.push_back(detail::ensure_future(std::move(a)));
  GatherLoop gather_loop(loop);
  for (const H& h : children) gather_loop.add(h.get_loop(), FutureOf<A>::creates_task);
  if (EventLoop* foreign = gather_loop.foreign()) [[unlikely]]
    return foreign_gather<R>(*foreign);
  const bool empty = children.empty();
  auto* g = new G(loop, std::move(children), FutureOf<A>::creates_task);
  Future<R> outer{Ref<FutureImpl<R>>(g)};
  if (empty) {
    outer.set_result(R{});
  } else {
    g->start();
  }
  return outer;
}

}  // namespace detail

/// Runs the awaitables concurrently; the future's result is a std::tuple of their results in
/// order (void → asyncio::Void). Any Awaitable: Coro, Task, Future, AnyTask, or an awaiter such
/// as sleep(d), lock.acquire() or queue.get(), which is wrapped in a task like a Coro.
/// Python: asyncio.gather(*aws).
template <class... Aws>
auto gather(Aws&&... aws) {
  static_assert((Awaitable<Aws> && ...), ASYNCIO_NOT_AWAITABLE_MESSAGE("asyncio::gather()"));
  if constexpr ((Awaitable<Aws> && ...)) {
    return detail::gather_tuple<false>(std::forward<Aws>(aws)...);
  }
}
/// As gather(), but each slot is an Outcome<T> holding the value or the exception.
/// Python: asyncio.gather(*aws, return_exceptions=True).
template <class... Aws>
auto gather(ReturnExceptions, Aws&&... aws) {
  static_assert((Awaitable<Aws> && ...), ASYNCIO_NOT_AWAITABLE_MESSAGE("asyncio::gather()"));
  if constexpr ((Awaitable<Aws> && ...)) {
    return detail::gather_tuple<true>(std::forward<Aws>(aws)...);
  }
}
/// Homogeneous form: a std::vector of results in order.
/// Python: asyncio.gather(*aws).
template <class A>
auto gather(std::vector<A> aws) {
  static_assert(Awaitable<A>, ASYNCIO_NOT_AWAITABLE_MESSAGE("asyncio::gather()"));
  if constexpr (Awaitable<A>) return detail::gather_range<false>(std::move(aws));
}
/// Homogeneous form with return_exceptions: a std::vector<Outcome<T>> in order (Python:
/// asyncio.gather(*aws, return_exceptions=True)).
template <class A>
auto gather(ReturnExceptions, std::vector<A> aws) {
  static_assert(Awaitable<A>, ASYNCIO_NOT_AWAITABLE_MESSAGE("asyncio::gather()"));
  if constexpr (Awaitable<A>) return detail::gather_range<true>(std::move(aws));
}

}  // namespace asyncio
