// asyncio/awaitable.hpp — the Awaitable concept (Python: collections.abc.Awaitable,
// inspect.isawaitable) and how a combinator turns any awaitable into a Coro.
//
// Every combinator (gather, shield, wait_for, timeout, create_task, ensure_future,
// as_completed) accepts any Awaitable:
//   - Coro<T>, Task<T>, AnyTask, Future<T>;
//   - the awaiters the library returns: sleep(), lock.acquire(), sem.acquire(), event.wait(),
//     cond.wait(), queue.get()/put()/join(), sock_recv() & co.;
//   - a user type with `operator co_await()` or with await_ready/await_suspend/await_resume.
// An awaiter is not a future: where Python would wrap a coroutine in a task (gather, shield,
// create_task, ensure_future, as_completed), it is first wrapped in a Coro, then in a task;
// wait_for and timeout run it in the awaiting task, as Python awaits it there.
//
// Awaiters must be move-constructible until they are first awaited (docs/internals.md): the
// wrapping moves them into the wrapping coroutine's frame.
#pragma once

#include <concepts>
#include <coroutine>
#include <type_traits>
#include <utility>

#include "asyncio/coroutines.hpp"

namespace asyncio {

namespace detail {

/// An awaiter object: await_ready/await_suspend/await_resume (what sleep() returns).
template <class A>
concept DirectAwaiter = requires(A& a, std::coroutine_handle<> h) {
  { a.await_ready() } -> std::convertible_to<bool>;
  a.await_suspend(h);
  a.await_resume();
};

/// Something with a member `operator co_await` (Coro, Task, Future) used as an rvalue.
template <class A>
concept MemberCoAwait = requires(A&& a) {
  { std::forward<A>(a).operator co_await() } -> DirectAwaiter;
};

template <class A>
decltype(auto) get_awaiter(A&& a) {
  if constexpr (MemberCoAwait<A>) {
    return std::forward<A>(a).operator co_await();
  } else {
    return std::forward<A>(a);
  }
}

}  // namespace detail

/// Whether `co_await std::declval<A>()` is valid in a library coroutine (Python:
/// inspect.isawaitable): a Coro, Task, Future, a library awaiter, or any user type with
/// `operator co_await()` or await_ready/await_suspend/await_resume.
template <class A>
concept Awaitable = detail::MemberCoAwait<A> || detail::DirectAwaiter<std::remove_cvref_t<A>>;

/// What `co_await` on an rvalue A gives, without reference and cv qualifiers (void if
/// nothing).
template <Awaitable A>
using await_result_t =
    std::remove_cvref_t<decltype(detail::get_awaiter(std::declval<A>()).await_resume())>;

namespace detail {

/// Whether A is a Coro<T>.
template <class A>
inline constexpr bool is_coro_type_v = false;
template <class T>
inline constexpr bool is_coro_type_v<Coro<T>> = true;

/// Wraps an awaitable in a Coro that awaits it (Python: tasks._wrap_awaitable). `aw` is
/// moved into the frame: awaiters are movable until first awaited (docs/internals.md).
template <class A>
Coro<await_result_t<A>> as_coro(A aw) {
  co_return co_await std::move(aw);
}

/// A Coro as is; any other awaitable wrapped in one. Like a Coro, a named (lvalue) awaiter is
/// moved from, unless it is copyable (Task, Future).
template <class A>
auto to_coro(A&& aw) {
  using V = std::remove_cvref_t<A>;
  if constexpr (is_coro_type_v<V>) {
    return V(std::move(aw));
  } else {
    static_assert(std::is_move_constructible_v<V>,
                  "asyncio: this awaiter cannot be moved, so it cannot be wrapped in a task; "
                  "co_await it directly (awaiters must be movable until awaited, see "
                  "docs/internals.md)");
    using Source =
        std::conditional_t<std::is_lvalue_reference_v<A> && std::is_copy_constructible_v<V>,
                           const V&, V&&>;
    return as_coro<V>(V(static_cast<Source>(aw)));
  }
}

}  // namespace detail

}  // namespace asyncio

/// The static_assert message of a combinator given something that is not awaitable.
#define ASYNCIO_NOT_AWAITABLE_MESSAGE(fn)                                                   \
  fn ": argument is not awaitable: expected a Coro, Task, Future or an awaiter such as "    \
     "asyncio::sleep(d), lock.acquire(), queue.get() (something with operator co_await or " \
     "await_ready/await_suspend/await_resume)"
