// asyncio/shield.hpp — shield(): protect an awaitable from cancellation (Python:
// asyncio.shield).
//
//   T r = co_await asyncio::shield(work());
//
// If the task awaiting the shield is cancelled, the inner work goes on; only the outer future
// is cancelled (so the awaiting task sees CancelledError). If the inner work is cancelled by
// other means, the outer future is cancelled too.
#pragma once

#include <memory>

#include "asyncio/detail/ensure_future.hpp"

namespace asyncio {

namespace detail {
/// How shield()'s outer callback finds the inner future without owning it.
struct ShieldLink {
  FutureBase* inner = nullptr;  // null once the inner callback is gone
  CallbackId callback = 0;
};
/// Owned by the inner callback: clears the link when the callback is destroyed.
struct ShieldLinkClearer {
  std::shared_ptr<ShieldLink> link;
  explicit ShieldLinkClearer(std::shared_ptr<ShieldLink> l) noexcept : link(std::move(l)) {}
  ShieldLinkClearer(ShieldLinkClearer&&) noexcept = default;
  ShieldLinkClearer(const ShieldLinkClearer&) = delete;
  ShieldLinkClearer& operator=(const ShieldLinkClearer&) = delete;
  ShieldLinkClearer& operator=(ShieldLinkClearer&&) = delete;
  ~ShieldLinkClearer() {
    if (link) link->inner = nullptr;
  }
};
}  // namespace detail

namespace detail {
template <class A>
Future<value_of_t<A>> shield_impl(A&& aw) {
  using T = detail::value_of_t<A>;
  using H = detail::future_of_t<A>;
  constexpr bool owned = detail::FutureOf<std::remove_cvref_t<A>>::creates_task;
  H inner = detail::ensure_future(std::forward<A>(aw));
  if (detail::running_loop != nullptr && detail::running_loop != &inner.get_loop()) [[unlikely]] {
    // Python: `outer` belongs to inner's loop, so awaiting it raises RuntimeError. Linking
    // the two would touch a future whose loop may run in another thread: leave them apart.
    return Future<T>(
        detail::Ref<detail::FutureImpl<T>>(new detail::FutureImpl<T>(inner.get_loop())));
  }
  Future<T> outer = inner.get_loop().template create_future<T>();

  // Copies `inner`'s outcome into `outer` (Python: _inner_done_callback).
  auto propagate = [](const H& in, const Future<T>& out) {
    if (out.cancelled()) {
      if (!in.cancelled()) in.exception();  // mark retrieved
      return;
    }
    if (in.cancelled()) {
      out.cancel();
    } else if (std::exception_ptr e = in.exception()) {
      out.set_exception(e);
    } else if constexpr (std::is_void_v<T>) {
      out.set_result();
    } else {
      out.set_result(detail::take_value(in, owned));
    }
  };
  if (inner.done()) {
    propagate(inner, outer);
    return outer;
  }
  // The inner callback keeps `outer` alive while `inner` runs; the outer one drops the inner
  // callback if `outer` finishes first (cancelled). The outer callback must not keep `inner`
  // alive in turn: while neither completes, that cycle would leak (Python's GC collects it).
  // It reaches `inner` through `link`, which the inner callback clears when it goes (run,
  // removed, or discarded because `inner` is destroyed).
  detail::add_awaited_by_current_task(*inner.impl());  // call graphs (Python does the same)
  auto link = std::make_shared<detail::ShieldLink>();
  link->inner = inner.impl();
  auto on_inner_done = [outer, propagate, clear = detail::ShieldLinkClearer{link}](auto& in) {
    propagate(in, outer);
  };
  link->callback = inner.add_done_callback(std::move(on_inner_done));
  outer.add_done_callback([link](Future<T>&) {
    if (link->inner && !link->inner->done()) link->inner->remove_callback(link->callback);
  });
  return outer;
}
}  // namespace detail

/// Returns a future that completes like `aw` but whose cancellation does not reach `aw`.
/// Python: asyncio.shield().
/// `aw` is any Awaitable; a Coro or an awaiter (queue.get(), lock.acquire()...) is wrapped in
/// a task, which goes on when the shield is cancelled.
template <class A>
auto shield(A&& aw) {
  static_assert(Awaitable<A>, ASYNCIO_NOT_AWAITABLE_MESSAGE("asyncio::shield()"));
  if constexpr (Awaitable<A>) return detail::shield_impl(std::forward<A>(aw));
}

}  // namespace asyncio
