// Async generators: the steps' rules (Python: Objects/genobject.c, async_gen_asend/athrow),
// finalization of generators dropped while suspended, and loop.shutdown_asyncgens().

#include "asyncio/async_generator.hpp"

#include <cstdio>
#include <vector>

#include "asyncio/detail/loop_access.hpp"
#include "asyncio/gather.hpp"
#include "asyncio/tasks.hpp"

namespace asyncio {
namespace detail {

namespace {

void destroy_frame(AsyncGenPromiseBase* p) noexcept {
  p->unlink();
  p->self.destroy();
}

const char* running_message(AsyncGenOp op) noexcept {
  switch (op) {
    case AsyncGenOp::Athrow:
      return "athrow(): asynchronous generator is already running";
    case AsyncGenOp::Aclose:
      return "aclose(): asynchronous generator is already running";
    default:
      return "anext(): asynchronous generator is already running";
  }
}

/// Python's repr: "<async_generator object f at 0x...>" (a lambda's name is "operator()").
std::string describe(const AsyncGenPromiseBase* p) {
  char address[32];
  std::snprintf(address, sizeof address, "%p", static_cast<const void*>(p));
  return std::string("<async_generator object ") + (p->name ? p->name : "?") + " at " + address +
         ">";
}

/// Owns a generator frame for the duration of a finalizer task (the task's only parameter).
struct FinalizerRef {
  AsyncGenPromiseBase* p;
  explicit FinalizerRef(AsyncGenPromiseBase* g) noexcept : p(g) {}
  FinalizerRef(FinalizerRef&& o) noexcept : p(std::exchange(o.p, nullptr)) {}
  FinalizerRef& operator=(FinalizerRef&&) = delete;
  ~FinalizerRef() {
    if (p) release_async_gen(p);
  }
};

/// Python: the task that loop._asyncgen_finalizer_hook creates for agen.aclose().
Coro<> finalize(FinalizerRef ref) {
  co_await AsyncGenStep<int, AsyncGenOp::Aclose>(ref.p);
}

}  // namespace

void AsyncGenPromiseBase::on_loop_close() noexcept {
  // Unlinked by close() already; a step still driving it releases it when it goes.
  if (orphan && !driving) self.destroy();
}

void AsyncGenPromiseBase::end_driving() noexcept {
  driving = false;
  if (orphan && !external) {
    orphan = false;
    release_async_gen(this);
  }
}

bool AsyncGenPromiseBase::begin_step(AsyncGenOp op, std::exception_ptr& thrown) {
  switch (state) {
    case State::Running:
      throw RuntimeError(running_message(op));
    case State::Finished:
      return true;
    case State::Created:
      if (op == AsyncGenOp::Athrow || op == AsyncGenOp::Aclose) {
        // Python: throwing into an unstarted generator ends it (athrow then raises the
        // exception, aclose returns).
        state = State::Finished;
        if (op == AsyncGenOp::Athrow) exception = std::exchange(thrown, nullptr);
        return true;
      }
      // Python's firstiter hook: the running loop tracks it from now on.
      if (EventLoop* l = running_loop; l != nullptr && !linked()) {
        loop = l;
        LoopAccess::asyncgens(*l).push_back(this);
      }
      pending = nullptr;
      return false;
    case State::Suspended:
      if (op == AsyncGenOp::Athrow) {
        pending = thrown;
      } else if (op == AsyncGenOp::Aclose) {
        pending = std::make_exception_ptr(GeneratorExit());
      } else {
        pending = nullptr;
      }
      return false;
  }
  return true;
}

bool AsyncGenPromiseBase::finish_step(AsyncGenOp op, bool ran) {
  if (!ran) {
    // Nothing ran: the generator was finished, or an athrow/aclose ended an unstarted one.
    switch (op) {
      case AsyncGenOp::Next:
      case AsyncGenOp::Aclose:
        return false;
      case AsyncGenOp::Anext:
        throw StopAsyncIteration();
      case AsyncGenOp::Athrow:
        // The generator never started (its exception is thrown back), or it was exhausted.
        if (exception) std::rethrow_exception(std::exchange(exception, nullptr));
        throw StopAsyncIteration();
    }
  }
  pending = nullptr;  // a body that caught it and yielded did not consume it via co_yield
  if (state == State::Suspended) {
    if (op == AsyncGenOp::Aclose) throw RuntimeError("async generator ignored GeneratorExit");
    return true;
  }
  // Finished.
  std::exception_ptr e = std::exchange(exception, nullptr);
  if (e) {
    try {
      std::rethrow_exception(e);
    } catch (const StopAsyncIteration&) {
      throw RuntimeError("async generator raised StopAsyncIteration");
    } catch (const GeneratorExit&) {
      if (op != AsyncGenOp::Aclose) throw;
      return false;
    }
  }
  if (op == AsyncGenOp::Anext || op == AsyncGenOp::Athrow) throw StopAsyncIteration();
  return false;
}

void release_async_gen(AsyncGenPromiseBase* p) noexcept {
  if (p->driving || p->external) {
    // A step is running it (its awaitable releases it when it goes), or shutdown_asyncgens has
    // taken it for closing (its closer destroys it afterwards, even when the generator finished
    // meanwhile in another task: the closer still holds the pointer).
    p->orphan = true;
    return;
  }
  switch (p->state) {
    case AsyncGenPromiseBase::State::Created:
    case AsyncGenPromiseBase::State::Finished:
    case AsyncGenPromiseBase::State::Running:
      // Running with no step alive: the consumer's frame, which held the step, is being
      // destroyed (its task abandoned by loop.close()) while the body was suspended inside one
      // of its co_awaits: the generator's frame goes with it, as an awaited Coro's would.
      destroy_frame(p);
      return;
    case AsyncGenPromiseBase::State::Suspended:
      break;
  }
  if (!p->linked()) {
    destroy_frame(p);  // never ran in a loop, or its loop is closed: nothing can aclose() it
    return;
  }
  if (running_loop == p->loop && !p->finalizing) {
    // Python's _asyncgen_finalizer_hook: call_soon_threadsafe(create_task, agen.aclose()),
    // with the same hop (the aclose() task is created by a callback, so its first step comes
    // an iteration later). The callback owns the frame until then; if it is discarded (the
    // loop closes), FinalizerRef releases it again.
    p->finalizing = true;
    try {
      EventLoop* loop = p->loop;
      Coro<> closer = finalize(FinalizerRef(p));
      // Discarded unstarted when the loop closes first: that is not a forgotten co_await.
      CoroAccess::mute_never_awaited(closer);
      loop->call_soon([c = std::move(closer), loop]() mutable { loop->create_task(std::move(c)); });
    } catch (...) {
      // Out of memory: the FinalizerRef's destructor has released p again, and that call
      // (seeing `finalizing`) left it to the loop as an orphan.
    }
    return;
  }
  // The finalizer task went without running (cancelled before it started, e.g. by run()'s
  // shutdown), or the loop is not running here: the loop keeps the frame, and
  // shutdown_asyncgens() or close() finishes it.
  p->finalizing = false;
  p->orphan = true;
}

}  // namespace detail

namespace {

/// Hands a generator taken by shutdown_asyncgens() back: clears `external` and destroys the
/// frame if its owner went meanwhile. Move-only, so that exactly one copy (the closer frame's
/// parameter) acts.
struct ShutdownClaim {
  detail::AsyncGenPromiseBase* p;
  explicit ShutdownClaim(detail::AsyncGenPromiseBase* gen) noexcept : p(gen) {}
  ShutdownClaim(ShutdownClaim&& o) noexcept : p(std::exchange(o.p, nullptr)) {}
  ShutdownClaim& operator=(ShutdownClaim&&) = delete;
  ~ShutdownClaim() {
    if (p == nullptr) return;
    p->external = false;
    if (p->orphan && !p->driving) detail::destroy_frame(p);
  }
};

/// Closes one generator for shutdown_asyncgens() and destroys it if nobody owns it. The claim
/// is a parameter, so the generator is handed back even if this coroutine never runs (its
/// task cancelled before the first step, or the loop closed).
Coro<> close_for_shutdown(ShutdownClaim claim) {
  co_await detail::AsyncGenStep<int, detail::AsyncGenOp::Aclose>(claim.p);
}

}  // namespace

Coro<void> EventLoop::shutdown_asyncgens() {
  // Python: closing_agens = list(self._asyncgens); self._asyncgens.clear(). A generator stays
  // linked until it finishes; `external` makes sure nothing destroys it before its closer ran.
  std::vector<detail::AsyncGenPromiseBase*> closing;
  detail::LoopAccess::asyncgens(*this).for_each([&](detail::LoopCloseHook* h) {
    auto* p = static_cast<detail::AsyncGenPromiseBase*>(h);
    if (p->finalizing || p->external) return;
    p->external = true;
    closing.push_back(p);
  });
  if (closing.empty()) co_return;
  std::vector<std::string> names;
  std::vector<Coro<>> closers;
  names.reserve(closing.size());
  closers.reserve(closing.size());
  for (auto* p : closing) {
    names.push_back(detail::describe(p));
    closers.push_back(close_for_shutdown(ShutdownClaim(p)));
  }
  auto results = co_await gather(return_exceptions, std::move(closers));
  for (std::size_t i = 0; i < results.size(); ++i) {
    std::exception_ptr e = results[i].exception();
    if (!e) continue;
    try {
      std::rethrow_exception(e);
    } catch (const CancelledError&) {
      continue;  // Python reports Exception subclasses only
    } catch (const GeneratorExit&) {
      continue;
    } catch (...) {
    }
    call_exception_handler(
        {"an error occurred during closing of asynchronous generator " + names[i], e, {}});
  }
}

}  // namespace asyncio
