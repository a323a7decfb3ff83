// asyncio/async_generator.hpp — AsyncGenerator<T> (Python: an `async def` with `yield`,
// consumed by `async for`).
//
//   asyncio::AsyncGenerator<int> ticker(asyncio::Duration delay, int to) {
//     for (int i = 0; i < to; ++i) {
//       co_yield i;
//       co_await asyncio::sleep(delay);
//     }
//   }
//   ...
//   auto gen = ticker(0.1s, 3);
//   while (auto i = co_await gen.next()) std::printf("%d\n", *i);   // async for i in ticker(...)
//
// The generator's body runs inside the task that awaits next()/anext()/athrow()/aclose(), as
// Python's does: its `co_await`s suspend that task, a cancel() of that task raises
// CancelledError at the generator's current `co_await`, and whatever escapes the body is
// thrown to the consumer. A `co_yield` hands the value to the consumer without a trip
// through the event loop and allocates nothing (the value lives in the generator's frame).
//
// Lifetime, as Python's (see docs/python-mapping.md, "Async generators"): a generator that
// started and has not finished is tracked (not owned) by the loop that ran its first step.
// - aclose() throws GeneratorExit at the suspended `co_yield`, so the body's cleanup runs,
//   including `co_await`s; a body that yields again gets RuntimeError("async generator ignored
//   GeneratorExit").
// - Destroying an AsyncGenerator that is suspended at a `co_yield` while its loop runs in this
//   thread hands the frame to a new task that acloses it (Python's finalizer hook schedules
//   aclose()). If that task never starts, or the loop is not running, the loop keeps the frame
//   and run()'s shutdown (EventLoop::shutdown_asyncgens) closes it. A generator whose loop is
//   closed, or that never ran inside a loop, is destroyed at once: only the destructors of its
//   locals run.
// - EventLoop::shutdown_asyncgens() (called by run() and Runner::close() after cancelling the
//   remaining tasks) acloses every generator still suspended, concurrently, and reports
//   failures as "an error occurred during closing of asynchronous generator ...".
// An AsyncGenerator belongs to one loop thread, like the tasks that iterate it.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "asyncio/coroutines.hpp"
#include "asyncio/detail/pool_allocator.hpp"
#include "asyncio/events.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

/// Thrown inside a generator at its suspended `co_yield` by aclose() (Python: GeneratorExit).
/// Like CancelledError it is not a std::exception (Python: a BaseException), so
/// `catch (const std::exception&)` in the generator does not swallow it. Rethrow it (or let it
/// pass) after cleaning up.
class GeneratorExit {
 public:
  /// "GeneratorExit". C++ only: for logs (Python's str(GeneratorExit()) is '').
  const char* what() const noexcept { return "GeneratorExit"; }
};

/// Thrown by AsyncGenerator::anext() and athrow() when the generator is exhausted (Python:
/// StopAsyncIteration, whose str() is empty). A generator body that throws it gets it replaced
/// by RuntimeError("async generator raised StopAsyncIteration"), as in Python.
class StopAsyncIteration : public std::exception {
 public:
  /// "" (Python: str(StopAsyncIteration()) is '').
  const char* what() const noexcept override { return ""; }
};

template <class T>
class AsyncGenerator;

namespace detail {

/// What a step of the generator was asked to do (Python: __anext__, athrow, aclose).
enum class AsyncGenOp : std::uint8_t { Next, Anext, Athrow, Aclose };

/// The non-template part of an async generator's frame: its state, the consumer to return to,
/// the exception to throw at the `co_yield`, and its link in the loop's list of live
/// generators (Python: loop._asyncgens). Invariant: linked in `loop`'s list iff it has started,
/// has not finished, and `loop` is not closed.
struct AsyncGenPromiseBase : LoopCloseHook {
  static void* operator new(std::size_t size) { return pool_allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { pool_deallocate(p, size); }

  /// Created: never resumed. Suspended: at a `co_yield`. Running: a step is in progress (the
  /// body runs, or its task is suspended inside one of the body's `co_await`s).
  /// Finished: the body ended (returned or threw); the frame stays until its owner goes.
  enum class State : std::uint8_t { Created, Suspended, Running, Finished };

  AsyncGenPromiseBase() = default;
  AsyncGenPromiseBase(const AsyncGenPromiseBase&) = delete;
  AsyncGenPromiseBase& operator=(const AsyncGenPromiseBase&) = delete;
  ~AsyncGenPromiseBase() { unlink(); }

  std::suspend_always initial_suspend() noexcept { return {}; }

  /// Back to whoever drove the step: the consumer, or nothing when the step ran inline within
  /// the driver's await_suspend (continuation is then noop_coroutine()).
  struct Transfer {
    bool await_ready() noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<>) noexcept {
      std::coroutine_handle<> next = std::exchange(self->continuation, nullptr);
      return next ? next : std::noop_coroutine();
    }
    void await_resume() {
      if (self->pending) std::rethrow_exception(std::exchange(self->pending, nullptr));
    }
    AsyncGenPromiseBase* self;
  };
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<>) noexcept {
      self->state = State::Finished;
      self->unlink();  // no longer a live generator of its loop
      std::coroutine_handle<> next = std::exchange(self->continuation, nullptr);
      return next ? next : std::noop_coroutine();
    }
    void await_resume() noexcept {}
    AsyncGenPromiseBase* self;
  };
  FinalAwaiter final_suspend() noexcept { return {this}; }
  void unhandled_exception() noexcept { exception = std::current_exception(); }
  void return_void() noexcept {}

  /// EventLoop::close(): the loop no longer tracks this generator; if nothing else owns the
  /// frame, it is destroyed now (as close() destroys pending tasks).
  void on_loop_close() noexcept override;

  /// await_ready() of a step: checks, and decides whether the body must run. Returns true if
  /// it need not (the result is then decided by finish_step without running anything).
  bool begin_step(AsyncGenOp op, std::exception_ptr& thrown);
  /// await_suspend() of a step: runs the body inline until its next `co_yield` or its end.
  /// Returns false if it got there without suspending the task, else true (the body's
  /// `co_yield`/end later transfers to `awaiting`).
  bool drive(std::coroutine_handle<> awaiting) noexcept {
    state = State::Running;
    continuation = std::noop_coroutine();
    self.resume();
    if (state != State::Running) {
      continuation = nullptr;
      return false;
    }
    continuation = awaiting;
    return true;
  }
  /// ~AsyncGenStep() of a step that ran the body.
  void end_driving() noexcept;
  /// await_resume() of a step, value aside: true if the generator yielded a value (only for
  /// Next/Anext/Athrow); false for the end of Next; throws what Python's step raises.
  bool finish_step(AsyncGenOp op, bool ran);

  std::coroutine_handle<> self;          // this frame
  std::coroutine_handle<> continuation;  // see Transfer
  std::exception_ptr exception;          // what escaped the body
  std::exception_ptr pending;            // to throw at the co_yield on resumption
  EventLoop* loop = nullptr;             // the loop of its first step, if it ran in one
  const char* name = nullptr;            // the generator function's name (for messages)
  State state = State::Created;
  bool orphan = false;      // no AsyncGenerator owns the frame (the loop's list, or the step
                            // in progress, does)
  bool driving = false;     // a step's awaitable that ran the body is alive: if the owner goes
                            // meanwhile, that awaitable releases the frame when it goes
  bool finalizing = false;  // handed to a finalizer task (shutdown_asyncgens skips it)
  bool external = false;    // shutdown_asyncgens is closing it: a dying owner leaves it to that
};

/// Called by the owner (AsyncGenerator's destructor): destroys the frame, hands it to a
/// finalizer task, or leaves it to the loop (see the header comment).
void release_async_gen(AsyncGenPromiseBase* p) noexcept;

/// A step's awaitable: next(), anext(), athrow(), aclose(). Movable until awaited; awaited once.
template <class T, AsyncGenOp Op>
class [[nodiscard]] AsyncGenStep {
 public:
  using Result = std::conditional_t<Op == AsyncGenOp::Next, std::optional<T>,
                                    std::conditional_t<Op == AsyncGenOp::Aclose, void, T>>;

  AsyncGenStep(AsyncGenPromiseBase* p, std::exception_ptr thrown = nullptr) noexcept
      : p_(p), thrown_(std::move(thrown)) {}
  /// Movable until awaited (e.g. into a combinator).
  AsyncGenStep(AsyncGenStep&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)),
        thrown_(std::move(o.thrown_)),
        used_(o.used_),
        ran_(std::exchange(o.ran_, false)) {}
  AsyncGenStep& operator=(AsyncGenStep&&) = delete;
  /// If the generator's owner went while this step ran it, the frame is released now.
  ~AsyncGenStep() {
    if (ran_) p_->end_driving();
  }

  /// C++ awaitable protocol: runs the checks (Python: "... already running").
  bool await_ready() {
    if (used_) [[unlikely]] {
      throw RuntimeError(Op == AsyncGenOp::Athrow || Op == AsyncGenOp::Aclose
                             ? "cannot reuse already awaited aclose()/athrow()"
                             : "cannot reuse already awaited __anext__()/asend()");
    }
    used_ = true;
    if (p_ == nullptr) [[unlikely]] {
      throw RuntimeError(
          "cannot iterate an empty AsyncGenerator (moved from or default-constructed)");
    }
    ran_ = !p_->begin_step(Op, thrown_);
    if (ran_) p_->driving = true;
    return !ran_;
  }
  /// C++ awaitable protocol: runs the body until its next co_yield or end.
  bool await_suspend(std::coroutine_handle<> awaiting) noexcept { return p_->drive(awaiting); }
  /// C++ awaitable protocol: the yielded value, or what Python's step raises.
  Result await_resume() {
    bool yielded = p_->finish_step(Op, ran_);
    if constexpr (Op == AsyncGenOp::Aclose) {
      (void)yielded;
    } else {
      auto& slot = static_cast<typename AsyncGenerator<T>::promise_type*>(p_)->value;
      if constexpr (Op == AsyncGenOp::Next) {
        if (!yielded) return std::nullopt;
      }
      struct Reset {
        std::optional<T>& s;
        ~Reset() { s.reset(); }
      } reset{slot};
      return Result(std::move(*slot));
    }
  }

 private:
  AsyncGenPromiseBase* p_;
  std::exception_ptr thrown_;  // athrow's exception
  bool used_ = false;
  bool ran_ = false;
};

/// The promise constructor's argument. Explicit, so that no argument of the generator function
/// converts to it (the compiler first tries to build the promise from those arguments).
struct AsyncGenName {
  explicit AsyncGenName(const char* n) noexcept : name(n) {}
  const char* name;
};

template <class T>
struct AsyncGenPromise : AsyncGenPromiseBase {
  std::optional<T> value;  // the value of the current co_yield; in the frame: no allocation

  // __builtin_FUNCTION() in a default argument names the caller: the generator function
  // (Python's repr shows it: "<async_generator object ticker at 0x...>").
  explicit AsyncGenPromise(AsyncGenName n = AsyncGenName(__builtin_FUNCTION())) noexcept {
    name = n.name;
  }

  AsyncGenerator<T> get_return_object() noexcept;

  /// `co_yield v`: stores v (copied or moved) and hands control back to the consumer.
  template <class U = T>
  requires std::is_constructible_v<T, U&&> Transfer yield_value(U&& v)
  noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    value.emplace(std::forward<U>(v));
    state = State::Suspended;
    return Transfer{this};
  }
};

}  // namespace detail

/// The return type of async generator functions (Python: an async generator object).
///
/// `asyncio::AsyncGenerator<T> f(...) { ...; co_yield v; ...; co_await aw; ... }` — T is the
/// type of the yielded values (an object type). Calling f creates the generator without
/// running anything. Move-only; owns the frame. The `async for` idiom is
///
///     while (auto v = co_await gen.next()) use(*v);      // async for v in gen: use(v)
///
/// `break` leaves the generator suspended: call `co_await gen.aclose()` to run its cleanup now,
/// or let it go (its destruction schedules the cleanup, as Python's finalizer does).
template <class T>
class [[nodiscard]] AsyncGenerator {
  static_assert(std::is_object_v<T> && !std::is_array_v<T>,
                "AsyncGenerator<T>: T must be an object type (yield a pointer or "
                "std::reference_wrapper to share an object)");

 public:
  using promise_type = detail::AsyncGenPromise<T>;  ///< For the compiler's coroutine machinery.
  using value_type = T;                             ///< What the generator yields.

  AsyncGenerator() noexcept = default;
  /// Takes over `o`'s generator; `o` becomes empty.
  AsyncGenerator(AsyncGenerator&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  /// Releases the generator held (see the header comment) and takes over `o`'s.
  AsyncGenerator& operator=(AsyncGenerator&& o) noexcept {
    if (this != &o) {
      if (p_) detail::release_async_gen(p_);
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  /// Destroys the generator; one suspended at a co_yield gets aclose()d first, later (see the
  /// header comment).
  ~AsyncGenerator() {
    if (p_) detail::release_async_gen(p_);
  }

  /// The `async for` step: the next value, or std::nullopt once the generator is exhausted
  /// (also on every later call). Exceptions from the body propagate. Throws RuntimeError("anext():
  /// asynchronous generator is already running") if another step is in progress.
  /// Python: `async for` (`__anext__`, with StopAsyncIteration as nullopt).
  [[nodiscard]] detail::AsyncGenStep<T, detail::AsyncGenOp::Next> next() noexcept { return {p_}; }

  /// The next value; throws StopAsyncIteration once the generator is exhausted.
  /// Python: `await anext(gen)` / `gen.__anext__()`.
  [[nodiscard]] detail::AsyncGenStep<T, detail::AsyncGenOp::Anext> anext() noexcept { return {p_}; }

  /// Throws `e` inside the generator at its suspended co_yield; returns the next value it
  /// yields, throws StopAsyncIteration if it then finishes, or what escapes it. On a generator
  /// that never started, `e` is thrown here and the generator is finished.
  /// Python: `await gen.athrow(e)`.
  template <class E>
  [[nodiscard]] detail::AsyncGenStep<T, detail::AsyncGenOp::Athrow> athrow(E e) {
    if constexpr (std::is_same_v<std::decay_t<E>, std::exception_ptr>) {
      return {p_, std::move(e)};
    } else {
      return {p_, std::make_exception_ptr(std::move(e))};
    }
  }

  /// Finishes the generator: throws GeneratorExit at its suspended co_yield, so its cleanup runs
  /// (and may co_await); returns when the body ends. Throws RuntimeError("async generator
  /// ignored GeneratorExit") if the body yields instead, and whatever else escapes the body.
  /// On a generator that never started or already finished, does nothing.
  /// Python: `await gen.aclose()`.
  [[nodiscard]] detail::AsyncGenStep<T, detail::AsyncGenOp::Aclose> aclose() noexcept {
    return {p_};
  }

  /// Whether this holds a generator that has not finished. C++ only.
  bool valid() const noexcept {
    return p_ && p_->state != detail::AsyncGenPromiseBase::State::Finished;
  }

 private:
  friend struct detail::AsyncGenPromise<T>;
  explicit AsyncGenerator(promise_type* p) noexcept : p_(p) {}

  promise_type* p_ = nullptr;
};

namespace detail {
template <class T>
AsyncGenerator<T> AsyncGenPromise<T>::get_return_object() noexcept {
  self = std::coroutine_handle<AsyncGenPromise>::from_promise(*this);
  return AsyncGenerator<T>(this);
}
}  // namespace detail

}  // namespace asyncio
