// Turning "something awaitable" into a future the combinators can watch (Python:
// asyncio.ensure_future): a Coro becomes a task on the running loop; futures and tasks pass.
#pragma once

#include <type_traits>
#include <variant>

#include "asyncio/awaitable.hpp"
#include "asyncio/futures.hpp"
#include "asyncio/tasks.hpp"

namespace asyncio::detail {

template <class A>
struct FutureOf;
template <class T>
struct FutureOf<Coro<T>> {
  using type = Task<T>;
  using value = T;
  static constexpr bool creates_task = true;
};
template <class T>
struct FutureOf<Task<T>> {
  using type = Task<T>;
  using value = T;
  static constexpr bool creates_task = false;
};
template <class T>
struct FutureOf<Future<T>> {
  using type = Future<T>;
  using value = T;
  static constexpr bool creates_task = false;
};
template <>
struct FutureOf<AnyTask> {
  using type = AnyTask;
  using value = void;
  static constexpr bool creates_task = false;
};

/// Any other awaitable (sleep(), lock.acquire(), queue.get(), a user awaiter...): wrapped in a
/// Coro, then in a task, as Python's ensure_future wraps a coroutine or an awaitable.
template <class A>
requires(Awaitable<A> && !is_coro_type_v<A> && !is_future_handle_v<A>) struct FutureOf<A> {
  using type = Task<await_result_t<A>>;
  using value = await_result_t<A>;
  static constexpr bool creates_task = true;
};

template <class A>
using future_of_t = typename FutureOf<std::remove_cvref_t<A>>::type;
template <class A>
using value_of_t = typename FutureOf<std::remove_cvref_t<A>>::value;

/// The value type with void replaced by Void (std::monostate).
template <class T>
using non_void_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class A>
future_of_t<A> ensure_future(A&& a) {
  if constexpr (FutureOf<std::remove_cvref_t<A>>::creates_task) {
    return create_task(to_coro(std::forward<A>(a)));
  } else {
    return a;
  }
}

/// Python's message when ensure_future(fut, loop=loop) gets a future of another loop, as in
/// gather() of futures of two loops, or as_completed() of a future of another loop.
inline constexpr const char* kDifferentLoopMessage =
    "The future belongs to a different loop than the one specified as the loop argument";

/// Throws Python's ValueError unless `f` belongs to `loop`.
template <class H>
void check_loop(const H& f, const EventLoop& loop) {
  if (&f.get_loop() != &loop) throw ValueError(kDifferentLoopMessage);
}

/// Copies (or, for a future nobody else holds, moves) a done future's value out.
template <class H>
auto take_value(const H& f, bool sole_owner) {
  using T = typename H::value_type;
  if constexpr (std::is_void_v<T>) {
    f.result();
    return std::monostate{};
  } else if constexpr (is_really_copyable_v<T>) {
    if (sole_owner) return T(std::move(f.result()));
    return T(f.result());
  } else {
    return T(std::move(f.result()));
  }
}

}  // namespace asyncio::detail

namespace asyncio {

/// Returns `aw` itself if it is a Task or Future; otherwise schedules it as a task on the
/// running loop (a Coro directly, any other awaitable wrapped in a Coro first).
/// Python: asyncio.ensure_future().
template <class A>
auto ensure_future(A&& aw) {
  if constexpr (Awaitable<A>) {
    return detail::ensure_future(std::forward<A>(aw));
  } else {
    static_assert(Awaitable<A>, ASYNCIO_NOT_AWAITABLE_MESSAGE("asyncio::ensure_future()"));
  }
}

}  // namespace asyncio
