// asyncio/contextlib.hpp — asynchronous context managers: `async with` for any type (Python:
// the `async with` statement, __aenter__/__aexit__, and contextlib.asynccontextmanager).
//
// A type is an asynchronous context manager when it has two members:
//
//   aenter()                      an awaitable; what it gives is what `as` binds in Python
//                                 (void for `async with lock:`, the manager itself for
//                                 `async with TaskGroup() as tg:`)
//   aexit(std::exception_ptr e)   an awaitable run after the body, with what the body threw
//                                 (null if it finished normally); giving `true` suppresses `e`
//                                 (Python: __aexit__ returning True); giving void never does
//
// and async_with() runs a body between them, as Python's `async with` does:
//
//   co_await asyncio::async_with(lock, [&]() -> asyncio::Coro<> { ... });       // async with lock:
//   co_await asyncio::async_with(server, [&](asyncio::Server& s) -> asyncio::Coro<> { ... });
//   asyncio::TaskGroup tg;
//   co_await asyncio::async_with(tg, [&](asyncio::TaskGroup& tg) -> asyncio::Coro<> { ... });
//   auto cm = asyncio::timeout(1s);
//   co_await asyncio::async_with(cm, body);
//   if (cm.expired()) { ... }                      // the manager outlives the block, as in Python
//
// Both halves may co_await, and aexit sees the exception, so "cleanup that awaits" never needs a
// hand-written exception-stashing block (C++ cannot co_await inside a catch handler; this does
// the stashing once). The order of events is exactly Python's:
//   1. `co_await cm.aenter()`. If it throws, the body and aexit do not run.
//   2. The body runs (called with aenter's value if it accepts it, else with no argument).
//   3. Normal end: `co_await cm.aexit(nullptr)`; its value is ignored; async_with returns the
//      body's result.
//      Exception (CancelledError included): `co_await cm.aexit(e)`; if it gives true the
//      exception is suppressed and async_with returns normally (the body's result then does not
//      exist: a non-void result comes back as std::optional, empty). Otherwise `e` is rethrown.
//      If aexit itself throws, its exception replaces `e` (Python chains `e` as __context__;
//      C++ exceptions have no context, so `e` is dropped).
// A cancellation suppressed by aexit leaves the task's cancelling() count raised, as in Python.
//
// The manager is taken by reference when it is an lvalue (it outlives the statement, so its
// state can be read afterwards), and moved into the operation when it is a movable temporary.
// A temporary that cannot be moved is refused at compile time (the operation is lazy and may
// outlive the full expression): name it. `asyncio::timeout(1s)` can be moved until entered.
#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "asyncio/coroutines.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

namespace detail {

/// The awaiter `co_await a` uses: a's member operator co_await, or `a` itself.
template <class A>
struct AwaiterOf {
  using type = std::remove_reference_t<A>;
};
template <class A>
requires requires(A&& a) {
  std::forward<A>(a).operator co_await();
}
struct AwaiterOf<A> {
  using type = decltype(std::declval<A>().operator co_await());
};

/// Something `co_await` accepts in a Coro (an awaiter, or a type with operator co_await).
template <class A>
concept CmAwaitable = requires(typename AwaiterOf<A>::type& w) {
  w.await_ready();
  w.await_resume();
};

/// The type of `co_await std::declval<A>()`.
template <class A>
using raw_await_result_t = decltype(std::declval<typename AwaiterOf<A>::type&>().await_resume());

}  // namespace detail

/// A type usable with async_with() (Python: an object with __aenter__ and __aexit__); see the
/// header comment. aexit's awaitable gives void (never suppresses) or something convertible
/// to bool (true suppresses the body's exception).
template <class CM>
concept AsyncContextManager = requires(CM& cm, std::exception_ptr e) {
  { cm.aenter() } -> detail::CmAwaitable;
  { cm.aexit(e) } -> detail::CmAwaitable;
}
&&(std::is_void_v<
       detail::raw_await_result_t<decltype(std::declval<CM&>().aexit(std::exception_ptr()))>> ||
   std::is_convertible_v<
       detail::raw_await_result_t<decltype(std::declval<CM&>().aexit(std::exception_ptr()))>,
       bool>);

namespace detail {

/// Holds what aenter() gave for the duration of the statement (references and
/// reference_wrappers as pointers; values by value).
template <class V>
struct EnterValue {
  std::optional<V> value;
  V& get() noexcept { return *value; }
};
template <class V>
struct EnterValue<V&> {
  V* value = nullptr;
  V& get() noexcept { return *value; }
};
template <class V>
struct EnterValue<std::reference_wrapper<V>> {
  V* value = nullptr;
  V& get() noexcept { return *value; }
};
template <>
struct EnterValue<void> {};

template <class V>
inline constexpr bool is_reference_wrapper_v = false;
template <class V>
inline constexpr bool is_reference_wrapper_v<std::reference_wrapper<V>> = true;

template <class A>
using enter_value_t =
    std::conditional_t<std::is_lvalue_reference_v<raw_await_result_t<A>>, raw_await_result_t<A>,
                       std::remove_cvref_t<raw_await_result_t<A>>>;

/// Calls the body with aenter's value when it accepts it, else with no argument.
template <class F, class V>
decltype(auto) call_with_value(F& body, EnterValue<V>& entered) {
  if constexpr (!std::is_void_v<V>) {
    if constexpr (std::is_invocable_v<F&, decltype(entered.get())>) {
      return body(entered.get());
    } else {
      return body();
    }
  } else {
    return body();
  }
}

template <class M, class F>
struct WithTraits {
  using Enter = decltype(std::declval<M&>().aenter());
  using V = enter_value_t<Enter>;
  using Body = decltype(call_with_value(std::declval<F&>(), std::declval<EnterValue<V>&>()));
  static_assert(CmAwaitable<Body>, "async_with: the body must return an awaitable (a Coro)");
  using T = raw_await_result_t<Body>;
  using X = raw_await_result_t<decltype(std::declval<M&>().aexit(std::exception_ptr()))>;
  static constexpr bool can_suppress = !std::is_void_v<X>;
  /// A suppressed exception leaves no body result: optional<T> when aexit can suppress.
  using R = std::conditional_t<std::is_void_v<T> || !can_suppress, T, std::optional<T>>;
};

/// `Store` is M (the manager moved in) or M& (referenced).
template <class M, class Store, class F>
Coro<typename WithTraits<M, F>::R> async_with_impl(Store cm, F body) {
  using Tr = WithTraits<M, F>;
  using V = typename Tr::V;
  using T = typename Tr::T;
  EnterValue<V> entered;
  if constexpr (std::is_void_v<V>) {
    co_await cm.aenter();
  } else if constexpr (std::is_lvalue_reference_v<V>) {
    entered.value = &(co_await cm.aenter());
  } else if constexpr (is_reference_wrapper_v<V>) {
    V ref = co_await cm.aenter();
    entered.value = &ref.get();
  } else {
    entered.value.emplace(co_await cm.aenter());
  }
  std::exception_ptr error;
  std::optional<std::conditional_t<std::is_void_v<T>, char, T>> result;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await call_with_value(body, entered);
    } else {
      result.emplace(co_await call_with_value(body, entered));
    }
  } catch (...) {
    error = std::current_exception();
  }
  if (!error) {
    co_await cm.aexit(std::exception_ptr());  // Python ignores the value on a normal exit
    if constexpr (!std::is_void_v<T>)
      co_return std::move(*result);
    else
      co_return;
  }
  if constexpr (Tr::can_suppress) {
    const bool suppress = static_cast<bool>(co_await cm.aexit(error));
    if (suppress) {
      if constexpr (!std::is_void_v<T>)
        co_return std::nullopt;
      else
        co_return;
    }
  } else {
    co_await cm.aexit(error);
  }
  std::rethrow_exception(error);
}

}  // namespace detail

/// Runs `body` inside the asynchronous context manager `cm` (Python: `async with cm as v:`):
/// `co_await cm.aenter()`, then `co_await body(v)` (or `body()`), then
/// `co_await cm.aexit(exception or nullptr)`; see the header comment for the exact rules.
/// Returns the body's result; when aexit can suppress (gives bool) and the result is not
/// void, a std::optional of it (empty when an exception was suppressed).
template <class CM, class F>
auto async_with(CM&& cm, F body) {
  // Python: TypeError "'X' object does not support the asynchronous context manager protocol".
  static_assert(AsyncContextManager<std::remove_cvref_t<CM>>,
                "async_with: the object does not support the asynchronous context manager "
                "protocol (it needs aenter() and aexit(std::exception_ptr) returning awaitables)");
  using M = std::remove_cvref_t<CM>;
  if constexpr (!AsyncContextManager<M>) {
    return;  // only the static_assert above is reported
  } else if constexpr (!std::is_lvalue_reference_v<CM> && std::is_move_constructible_v<M>) {
    return detail::async_with_impl<M, M>(std::move(cm), std::move(body));
  } else {
    // The operation is lazy: a temporary referenced here would be gone by the time it runs
    // when it is stored (`auto op = async_with(...)`) or handed to create_task().
    static_assert(std::is_lvalue_reference_v<CM>,
                  "async_with: a context manager that cannot be moved must be a named object "
                  "(`M cm; co_await asyncio::async_with(cm, body);`)");
    return detail::async_with_impl<M, M&>(cm, std::move(body));
  }
}

/// An asynchronous context manager made of two callables (Python: a function decorated with
/// contextlib.asynccontextmanager, whose code before `yield` is `enter` and whose `finally` /
/// `except` part is `exit`):
///
///   auto connection(std::string host) {
///     return asyncio::AsyncContext(
///         [host]() -> asyncio::Coro<Conn> { co_return co_await connect(host); },
///         [](Conn& c, std::exception_ptr) -> asyncio::Coro<> { co_await c.close(); });
///   }
///   co_await asyncio::async_with(connection("db"), [&](Conn& c) -> asyncio::Coro<> { ... });
///
/// `enter()` returns an awaitable; its value is kept in the manager and passed by reference to
/// the body and to `exit(value, e)` (or `exit(e)` when enter gives void). `exit` returns an
/// awaitable of void, or of bool to suppress `e` (Python: a generator that swallows the
/// exception instead of re-raising it). Single use, like the generator behind Python's.
template <class Enter, class Exit>
class AsyncContext {
  using V = std::remove_cvref_t<detail::raw_await_result_t<std::invoke_result_t<Enter&>>>;
  using Slot = std::conditional_t<std::is_void_v<V>, char, V>;

 public:
  /// The manager; neither callable runs before async_with() enters it.
  AsyncContext(Enter enter, Exit exit) : enter_(std::move(enter)), exit_(std::move(exit)) {}

  /// Runs `enter` and keeps its value. Python: __aenter__.
  Coro<std::conditional_t<std::is_void_v<V>, void, std::reference_wrapper<V>>> aenter() {
    if (entered_) throw RuntimeError("AsyncContext has already been entered");
    entered_ = true;
    if constexpr (std::is_void_v<V>) {
      co_await enter_();
    } else {
      value_.emplace(co_await enter_());
      co_return std::ref(*value_);
    }
  }

  /// Runs `exit` with the value and the body's exception. Python: __aexit__.
  auto aexit(std::exception_ptr e) {
    if constexpr (std::is_void_v<V>) {
      return exit_(std::move(e));
    } else {
      return exit_(*value_, std::move(e));
    }
  }

 private:
  Enter enter_;
  Exit exit_;
  std::optional<Slot> value_;
  bool entered_ = false;
};

}  // namespace asyncio
