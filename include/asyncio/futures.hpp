// asyncio/futures.hpp — Future<T>, the low-level awaitable (Python: asyncio.Future).
//
// A Future is a result that will exist later. Code that produces it calls set_result() or
// set_exception(); tasks that `co_await` it are suspended until then. Like Python futures it
// has reference semantics: copies of a Future<T> are handles to the same future. Futures
// belong to one loop and must only be used on that loop's thread.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "asyncio/detail/future_handle.hpp"
#include "asyncio/detail/task_base.hpp"
#include "asyncio/events.hpp"

namespace asyncio {

namespace detail {
template <class T>
class FutureImpl : public FutureBase, public ValueSlot<T> {
 public:
  using FutureBase::FutureBase;
};
}  // namespace detail

/// A result that will be set later, awaitable by coroutines (Python: asyncio.Future). A
/// handle: copies refer to the same future. Made by EventLoop::create_future<T>().
template <class T = void>
class Future : public detail::FutureHandle<detail::FutureImpl<T>, T> {
  using Base = detail::FutureHandle<detail::FutureImpl<T>, T>;

 public:
  using value_type = T;  ///< The result type.
  /// An empty handle; use loop.create_future<T>() to make a future.
  Future() noexcept = default;
  /// Internal: wraps the shared state.
  explicit Future(detail::Ref<detail::FutureImpl<T>> impl) noexcept : Base(std::move(impl)) {}

  /// Marks the future done with `value` and schedules its callbacks. Throws
  /// InvalidStateError if it is already done (including cancelled).
  /// Python: Future.set_result().
  template <class U = T>
  requires(!std::is_void_v<T> && std::is_constructible_v<T, U&&>) void set_result(U&& value) const {
    if (this->impl_->done()) this->impl_->mark_finished();  // throws InvalidStateError
    this->impl_->value.emplace(std::forward<U>(value));
    this->impl_->mark_finished();
  }
  /// Marks a Future<void> done (Python: fut.set_result(None)). Throws InvalidStateError if it
  /// is already done.
  void set_result() const requires std::is_void_v<T> { this->impl_->mark_finished(); }

  /// Marks the future done with an exception. Throws InvalidStateError if already done.
  /// Python: Future.set_exception().
  void set_exception(std::exception_ptr e) const { this->impl_->set_exception(std::move(e)); }
  /// Marks the future done with the exception object `e` (Python: fut.set_exception(e)).
  template <class E>
  requires(!std::is_same_v<std::decay_t<E>, std::exception_ptr>) void set_exception(E&& e) const {
    set_exception(std::make_exception_ptr(std::forward<E>(e)));
  }

  /// `callback(Future<T>&)` runs on the loop once the future is done.
  /// Python: Future.add_done_callback().
  template <class F>
  CallbackId add_done_callback(F&& callback) const {
    return this->template add_done_callback_as<Future>(std::forward<F>(callback));
  }
};

template <class T>
Future<T> EventLoop::create_future() {
  check_not_closed();
  return Future<T>(detail::Ref<detail::FutureImpl<T>>(new detail::FutureImpl<T>(*this)));
}

}  // namespace asyncio
