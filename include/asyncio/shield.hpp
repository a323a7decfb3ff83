// asyncio/shield.hpp — shield(): protect an awaitable from cancellation (Python:
// asyncio.shield).
//
//   T r = co_await asyncio::shield(work());
//
// If the task awaiting the shield is cancelled, the inner work goes on; only the outer future
// is cancelled (so the awaiting task sees CancelledError). If the inner work is cancelled by
// other means, the outer future is cancelled too.
#pragma once

#include "asyncio/detail/ensure_future.hpp"

namespace asyncio {

/// Returns a future that completes like `aw` but whose cancellation does not reach `aw`.
template <class A>
  requires requires { typename detail::FutureOf<std::remove_cvref_t<A>>::type; }
Future<detail::value_of_t<A>> shield(A&& aw) {
  using T = detail::value_of_t<A>;
  using H = detail::future_of_t<A>;
  constexpr bool owned = detail::FutureOf<std::remove_cvref_t<A>>::creates_task;
  H inner = detail::ensure_future(std::forward<A>(aw));
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
  // callback if `outer` finishes first (cancelled), which breaks the reference cycle.
  CallbackId inner_cb = inner.add_done_callback([outer, propagate](auto& in) {
    propagate(in, outer);
  });
  outer.add_done_callback([inner, inner_cb](Future<T>&) {
    if (!inner.done()) inner.remove_done_callback(inner_cb);
  });
  return outer;
}

}  // namespace asyncio
