// asyncio/detail/immediate.hpp — an awaitable that completes without suspending.
//
// Python's `async def __aenter__(self): return self` is a coroutine that finishes at its
// first step: awaiting it never yields to the loop and performs no cancellation check. The
// aenter()/aexit() members of the library's context managers (contextlib.hpp) return an
// Immediate for such steps, so `co_await cm.aenter()` costs neither a frame nor a loop hop.
#pragma once

#include <coroutine>
#include <type_traits>
#include <utility>

namespace asyncio::detail {

/// `co_await Immediate{f}` calls `f()` in the awaiting coroutine, without suspending, and gives
/// its result (or throws its exception). Each Immediate is awaited once.
template <class F>
class [[nodiscard]] Immediate {
 public:
  explicit Immediate(F f) noexcept(std::is_nothrow_move_constructible_v<F>) : f_(std::move(f)) {}

  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  decltype(auto) await_resume() { return f_(); }

 private:
  F f_;
};

}  // namespace asyncio::detail
