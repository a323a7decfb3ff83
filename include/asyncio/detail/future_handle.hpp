// What Future<T> and Task<T> have in common: the handle API and the awaiter.
#pragma once

#include <coroutine>
#include <type_traits>

#include "asyncio/detail/future_base.hpp"

namespace asyncio::detail {

class TaskBase;

/// Suspends the current task until a future (or task) is done.
template <class Impl>
class FutureAwaiter final : public CallbackNode, public Suspension {
 public:
  explicit FutureAwaiter(Impl* future) : future_(future) { fire = &on_done; }
  FutureAwaiter(const FutureAwaiter&) = delete;
  FutureAwaiter& operator=(const FutureAwaiter&) = delete;
  ~FutureAwaiter() { unlink(); }

  /// A future of another loop is never "ready": its state may be changing in another thread,
  /// so it is not even read; await_suspend() reports the mistake instead.
  bool await_ready() const noexcept {
    return (running_loop == nullptr || running_loop == &future_->loop()) && future_->done();
  }
  void await_suspend(std::coroutine_handle<> h);
  bool cancel_awaited(const std::string& message) override {
    // A foreign future is not what the task waits on (Python: _fut_waiter stays None), so
    // a cancel() is delivered as must_cancel when the task resumes.
    return !foreign_ && future_->cancel(message);
  }

  /// The future, once done; delivers a pending cancellation of the awaiting task first.
  Impl& resumed();

  /// Call graphs: a task awaiting a task is awaited_by it.
  FutureBase* awaited_future() const noexcept override { return future_.get(); }
  std::string describe_wait() const override { return future_->describe_self(); }

 private:
  static void on_done(void* self, bool discard);

  Ref<Impl> future_;
  TaskBase* task_ = nullptr;
  bool foreign_ = false;  // the future belongs to another loop: resumed() throws RuntimeError
};

template <class T, class Impl>
decltype(auto) result_ref(Impl& f) {
  f.check_result();
  if constexpr (!std::is_void_v<T>) return (*f.value);
}

/// The handle API shared by Future<T> and Task<T> (CRTP-free: Impl is the shared state).
template <class Impl, class T>
class FutureHandle {
 public:
  FutureHandle() noexcept = default;
  explicit FutureHandle(Ref<Impl> impl) noexcept : impl_(std::move(impl)) {}

  /// Whether this handle refers to a future at all (default-constructed handles do not).
  bool valid() const noexcept { return static_cast<bool>(impl_); }
  explicit operator bool() const noexcept { return valid(); }

  bool done() const noexcept { return impl_->done(); }
  bool cancelled() const noexcept { return impl_->cancelled(); }

  /// The result; throws the exception, CancelledError if cancelled, or InvalidStateError
  /// if not done yet. For void, just the checks.
  decltype(auto) result() const { return result_ref<T>(*impl_); }

  /// The exception (null if it finished with a value); throws CancelledError if cancelled
  /// and InvalidStateError if not done. Retrieving it silences "exception never retrieved".
  std::exception_ptr exception() const { return impl_->exception(); }

  /// Requests cancellation; false if already done. See Task::cancel for tasks.
  bool cancel(const std::string& message = {}) const { return impl_->cancel(message); }

  /// Schedules `callback(handle)` (a handle of this same type) to run on the loop once this
  /// is done, or soon if it already is. Returns an id for remove_done_callback().
  template <class Self, class F>
  CallbackId add_done_callback_as(F&& callback) const {
    using Node = UserCallback<Self, Impl, std::decay_t<F>>;
    auto* node = new Node(std::decay_t<F>(std::forward<F>(callback)));
    const CallbackId id = impl_->next_callback_id();
    node->id = id;
    impl_->add_callback(node);  // may run (discard) and delete the node when the loop is closed
    return id;
  }
  /// Removes a callback that has not been scheduled yet; returns how many were removed.
  std::size_t remove_done_callback(CallbackId id) const { return impl_->remove_callback(id); }

  EventLoop& get_loop() const noexcept { return impl_->loop(); }

  /// `co_await f` on an lvalue: the result by reference (valid while a handle lives).
  auto operator co_await() const& noexcept {
    struct Awaiter {
      FutureAwaiter<Impl> inner;
      bool await_ready() const noexcept { return inner.await_ready(); }
      void await_suspend(std::coroutine_handle<> h) { inner.await_suspend(h); }
      decltype(auto) await_resume() {
        Impl& f = inner.resumed();
        return result_ref<T>(f);
      }
    };
    return Awaiter{FutureAwaiter<Impl>(impl_.get())};
  }
  /// `co_await std::move(f)` or on a temporary: the result by value — moved out when no
  /// other handle can still read it, copied otherwise.
  auto operator co_await() && noexcept {
    struct Awaiter {
      FutureAwaiter<Impl> inner;
      bool await_ready() const noexcept { return inner.await_ready(); }
      void await_suspend(std::coroutine_handle<> h) { inner.await_suspend(h); }
      T await_resume() {
        Impl& f = inner.resumed();
        if constexpr (std::is_void_v<T>) {
          f.check_result();
        } else if constexpr (is_really_copyable_v<T>) {
          // References: this awaiter's and the handle being awaited. More means another
          // handle (or gather, shield...) may still read the result: copy then.
          if (f.ref_count() > 2) return T(result_ref<T>(f));
          return T(std::move(result_ref<T>(f)));
        } else {
          return T(std::move(result_ref<T>(f)));
        }
      }
    };
    return Awaiter{FutureAwaiter<Impl>(impl_.get())};
  }

  /// The shared state (for the library's own combinators).
  Impl* impl() const noexcept { return impl_.get(); }

  friend bool operator==(const FutureHandle& a, const FutureHandle& b) noexcept {
    return a.impl_ == b.impl_;
  }

 protected:
  Ref<Impl> impl_;
};

}  // namespace asyncio::detail
