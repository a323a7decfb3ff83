// asyncio/coroutines.hpp — Coro<T>, what a coroutine function returns (Python: a coroutine
// object).
//
// Lazy like Python's: calling a coroutine function only creates its frame; nothing runs until
// the Coro is awaited (`co_await f()` runs it inside the awaiting task, transferring control
// directly, with no trip through the event loop) or wrapped in a task (create_task). A Coro
// that is never awaited is destroyed without its body having run.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "asyncio/detail/await_site.hpp"
#include "asyncio/detail/pool_allocator.hpp"
#include "asyncio/detail/task_frame.hpp"
#include "asyncio/exceptions.hpp"

/// Debug builds (default: when NDEBUG is not defined) report a Coro destroyed without ever
/// being awaited or given to a task: "coroutine 'f' was never awaited" (Python's
/// RuntimeWarning). It costs a pointer store when a coroutine is called and a check in ~Coro;
/// release builds only carry the (unset) pointer in each frame. Translation units built with
/// and without it link together: the frame layout does not depend on it.
#ifndef ASYNCIO_COROUTINE_DEBUG
#ifdef NDEBUG
#define ASYNCIO_COROUTINE_DEBUG 0
#else
#define ASYNCIO_COROUTINE_DEBUG 1
#endif
#endif

namespace asyncio {

template <class T = void>
class Coro;

namespace detail {

class TaskBase;
struct CoroAccess;

/// What CoroPromiseBase::await_transform returns for an awaiter object: the awaiter itself,
/// by address (see there). Every call goes to the awaiter, on an lvalue, as `co_await` would.
template <class A>
struct AwaiterRef {
  A* awaiter;
  decltype(auto) await_ready() { return awaiter->await_ready(); }
  template <class H>
  decltype(auto) await_suspend(H h) {
    return awaiter->await_suspend(h);
  }
  decltype(auto) await_resume() { return awaiter->await_resume(); }
};

/// Gives CoroPromiseBase its await_transform when ASYNCIO_CALL_GRAPH is on, and nothing
/// otherwise (an empty base either way: the promise's layout does not depend on the option).
#if ASYNCIO_CALL_GRAPH
template <class Promise>
struct AwaitSiteRecorder {
  /// Records the co_await site, then hands the operand on unchanged: Coro, Task, Future and
  /// user types with a member or free operator co_await as they are (same object, same value
  /// category), and an awaiter object (one with await_ready()) through AwaiterRef, which
  /// calls the object's own await_ready/await_suspend/await_resume on it as an lvalue,
  /// exactly what `co_await` does with the object itself. The indirection exists because GCC
  /// 12 copies an awaiter that await_transform returns as a reference (so a non-movable
  /// awaiter such as sock_connect()'s would not compile, and a movable one would be moved).
  template <class A>
  decltype(auto) await_transform(A&& awaitable,
                                 AwaitSite site = ASYNCIO_DETAIL_CALLER_SITE) noexcept {
    static_cast<Promise*>(this)->await_site = site;
    // An operator co_await, member or free, takes precedence over await_ready (as in `co_await`).
    constexpr bool has_operator = requires {
      static_cast<A&&>(awaitable).operator co_await();
    }
    || requires {
      operator co_await(static_cast<A&&>(awaitable));
    };
    if constexpr (!has_operator && requires { awaitable.await_ready(); }) {
      return AwaiterRef<std::remove_reference_t<A>>{&awaitable};
    } else {
      return static_cast<A&&>(awaitable);
    }
  }
};
#else
template <class Promise>
struct AwaitSiteRecorder {};
#endif

struct CoroPromiseBase : AwaitSiteRecorder<CoroPromiseBase> {
  /// Who resumes when this coroutine finishes: the awaiting coroutine, or nothing when the
  /// coroutine is a task's root (the task notices completion when resume() returns).
  std::coroutine_handle<> continuation;
  std::exception_ptr exception;

  // ---- Call graphs (asyncio/graph.hpp, tools/gdb/asyncio.py) ----
  // Maintained only when ASYNCIO_CALL_GRAPH is on (detail/await_site.hpp); the fields exist
  // either way so that code built with and without it links together.
  // `await_site`: where this coroutine is (or was last) suspended, i.e. its last co_await,
  // stored by await_transform (one pointer store per await). Empty before the first await.
  // `callee`: the Coro this one is awaiting right now, set by Coro::Awaiter while the callee
  // runs or is suspended, null otherwise. A walker starts at a task's root coroutine (whose
  // promise is at offset 16 of its frame, see CoroPromise) and follows `callee` down to the
  // innermost coroutine: only live frames are ever reached, and a coroutine of another type
  // (which Coro::Awaiter does not drive) simply ends the chain.
  CoroPromiseBase* callee = nullptr;
  AwaitSite await_site{};

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> self) noexcept {
      // No continuation: a task's root, or a coroutine finishing within Coro::Awaiter's
      // await_suspend (which then continues the awaiting coroutine itself).
      std::coroutine_handle<> next = self.promise().continuation;
      return next ? next : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }

  void unhandled_exception() noexcept { exception = std::current_exception(); }

  /// The coroutine function's name, for "coroutine '...' was never awaited"; set only when
  /// ASYNCIO_COROUTINE_DEBUG is on. The field exists either way, so that the promise's layout
  /// does not depend on the option: a program may mix translation units built with and
  /// without it (an application built in debug mode against a release build of the library),
  /// and frames made by code built without it simply carry no name and are never reported.
  const char* debug_name = nullptr;
};

#if ASYNCIO_COROUTINE_DEBUG
/// The promise constructor's argument: explicit, so that no coroutine parameter converts to it
/// (the compiler first tries to construct the promise from the coroutine's arguments).
struct CoroutineName {
  explicit CoroutineName(const char* n) noexcept : name(n) {}
  const char* name;
};
#endif
/// Reports "coroutine '<name>' was never awaited" to the running loop's exception handler, or
/// to stderr when no loop runs (Python: the RuntimeWarning of a coroutine never awaited).
/// Defined whatever ASYNCIO_COROUTINE_DEBUG is, so that the library links with either.
[[gnu::cold]] void report_never_awaited(const char* name) noexcept;

/// Frames come from the per-thread block cache (spawning is allocation-heavy otherwise), with
/// room for a task state in front when T is small (detail/task_frame.hpp: create_task() then
/// allocates nothing more).
template <class T>
struct CoroPromise : CoroPromiseBase, FrameAllocation<TaskPrefix<T>::bytes> {
  // Call-graph walkers find the promise at a fixed offset (16) in every Coro frame, which
  // holds for promises aligned to at most 16 bytes (GCC and Clang frame layout).
  static_assert(alignof(T) <= 16, "Coro<T> does not support over-aligned T; wrap it");
  std::optional<T> value;

#if ASYNCIO_COROUTINE_DEBUG
  // __builtin_FUNCTION() in a default argument names the caller: the coroutine function.
  CoroPromise(CoroutineName n = CoroutineName(__builtin_FUNCTION())) noexcept {
    debug_name = n.name;
  }
#endif

  Coro<T> get_return_object() noexcept;
  template <class U = T>
  requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    value.emplace(std::forward<U>(v));
  }
  T take() {
    if (exception) std::rethrow_exception(exception);
    return std::move(*value);
  }
};

template <>
struct CoroPromise<void> : CoroPromiseBase, FrameAllocation<TaskPrefix<void>::bytes> {
#if ASYNCIO_COROUTINE_DEBUG
  CoroPromise(CoroutineName n = CoroutineName(__builtin_FUNCTION())) noexcept {
    debug_name = n.name;
  }
#endif
  Coro<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take() {
    if (exception) std::rethrow_exception(exception);
  }
};

}  // namespace detail

/// The return type of coroutine functions: `asyncio::Coro<int> f() { co_return 42; }`.
///
/// Move-only; owns the coroutine frame. Await it once (`co_await f()`), or hand it to
/// create_task()/run()/gather(). Awaiting it twice throws RuntimeError.
template <class T>
class [[nodiscard]] Coro {
 public:
  using promise_type = detail::CoroPromise<T>;         ///< For the compiler's coroutine machinery.
  using value_type = T;                                ///< What `co_await` on it gives.
  using Handle = std::coroutine_handle<promise_type>;  ///< The owned frame's handle.

  Coro() noexcept = default;
  /// Takes over `o`'s frame; `o` becomes empty.
  Coro(Coro&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  /// Destroys the owned frame, if any, and takes over `o`'s.
  Coro& operator=(Coro&& o) noexcept {
    if (this != &o) {
      if (h_) drop();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  /// Destroys the frame. In debug builds (ASYNCIO_COROUTINE_DEBUG), a coroutine that never
  /// started reports "coroutine '<name>' was never awaited" first.
  ~Coro() {
    if (h_) drop();
  }

  /// Whether this Coro still owns a frame that has not run to completion.
  /// C++ only (a Python coroutine object has cr_frame / cr_running instead).
  bool valid() const noexcept { return h_ && !h_.done(); }

  /// Runs the callee inside await_suspend rather than by symmetric transfer. Symmetric
  /// transfer bounds the stack only when the compiler emits it as a tail call, which GCC does
  /// only with optimisation: at -O0 or under ASan, a loop of awaits that complete at once
  /// (`for (...) co_await cached();`) would grow the stack by a frame per iteration until it
  /// overflows. Here a callee that completes without suspending comes back through a plain
  /// return and the caller continues via `return false`: constant stack at any -O level.
  /// A callee that suspends returns from resume() too, and only then learns its continuation:
  /// it cannot run again before this returns, and it later finishes through final_suspend's
  /// transfer to the continuation. While it runs inline its continuation is noop_coroutine(), so
  /// a finish comes back here.
  struct Awaiter {
    Handle h;  ///< The awaited coroutine.
    /// The awaiting coroutine's promise when it is a Coro (call graphs), else null.
    detail::CoroPromiseBase* caller = nullptr;
    /// Always suspends (the callee then runs inline, see above).
    /// C++ only: part of the C++ awaitable protocol (Python: __await__).
    bool await_ready() const noexcept { return false; }
    /// Runs the callee; returns false (continue at once) if it finished without suspending.
    /// C++ only: part of the C++ awaitable protocol (Python: __await__).
    template <class P>
    bool await_suspend(std::coroutine_handle<P> awaiting) noexcept {
      if constexpr (detail::kCallGraph && std::is_base_of_v<detail::CoroPromiseBase, P>) {
        caller = &awaiting.promise();
        caller->callee = &h.promise();
      }
      // Non-empty while it runs, so that awaiting it again meanwhile is refused (checked()).
      h.promise().continuation = std::noop_coroutine();
      h.resume();
      if (h.done()) return false;  // finished synchronously: continue the awaiting coroutine
      h.promise().continuation = awaiting;
      return true;
    }
    /// The callee's result, or its exception rethrown.
    /// C++ only: part of the C++ awaitable protocol (Python: __await__).
    T await_resume() {
      // Unconditional: `caller` is null unless a call-graph build set it, and another
      // translation unit's await_suspend (built with the option on) may have set it.
      if (caller) caller->callee = nullptr;
      return h.promise().take();
    }
  };

  /// `co_await f()`: runs the coroutine to completion (Python: `await coro`). Throws
  /// RuntimeError if it was already awaited.
  Awaiter operator co_await() && { return Awaiter{checked()}; }
  /// `co_await c` on a named Coro: as above; a Coro can be awaited only once.
  Awaiter operator co_await() & { return Awaiter{checked()}; }

  /// Gives up ownership of the frame (used by tasks, which adopt it).
  /// C++ only (no Python counterpart).
  Handle release() noexcept { return std::exchange(h_, nullptr); }

 private:
  friend struct detail::CoroPromise<T>;
  friend struct detail::CoroAccess;
  explicit Coro(Handle h) noexcept : h_(h) {}

  void drop() noexcept {
#if ASYNCIO_COROUTINE_DEBUG
    // Never started: not done, and never given a continuation by Awaiter (a task releases
    // the frame before running it).
    if (!h_.done() && !h_.promise().continuation && h_.promise().debug_name) [[unlikely]]
      detail::report_never_awaited(h_.promise().debug_name);
#endif
    h_.destroy();
  }

  Handle checked() const {
    if (!h_ || h_.done() || h_.promise().continuation) [[unlikely]]
      throw_not_awaitable();
    return h_;
  }
  [[noreturn, gnu::cold, gnu::noinline]] void throw_not_awaitable() const {
    if (!h_) throw RuntimeError("cannot await an empty Coro (moved from or default-constructed)");
    throw RuntimeError("cannot reuse already awaited coroutine");
  }

  Handle h_;
};

namespace detail {
template <class T>
Coro<T> CoroPromise<T>::get_return_object() noexcept {
  return Coro<T>(Coro<T>::Handle::from_promise(*this));
}
inline Coro<void> CoroPromise<void>::get_return_object() noexcept {
  return Coro<void>(Coro<void>::Handle::from_promise(*this));
}

/// The library's access to a Coro's frame.
struct CoroAccess {
  /// No "never awaited" report for `c`: the library created it for the caller to await or not
  /// (as_completed()'s coroutines), or refuses it and drops it on purpose (Python 3.13:
  /// `coro.close()` before TaskGroup.create_task raises).
  template <class T>
  static void mute_never_awaited([[maybe_unused]] Coro<T>& c) noexcept {
#if ASYNCIO_COROUTINE_DEBUG
    if (c.h_) c.h_.promise().debug_name = nullptr;
#endif
  }
};
}  // namespace detail

}  // namespace asyncio
