// asyncio/barrier.hpp — Barrier and BrokenBarrierError (Python: asyncio.Barrier,
// asyncio.BrokenBarrierError).
//
//   asyncio::Barrier barrier(3);
//   // in each of 3 tasks:
//   int index = co_await barrier.wait();   // returns once all 3 have arrived; 0, 1 or 2
//
// Semantics are Python 3.12's: the implementation is CPython's, line for line, on top of a
// Condition. A barrier cycles through filling (tasks arriving) and draining (the released
// tasks leaving); tasks arriving while it drains wait for the next cycle. reset() sends the
// waiting tasks BrokenBarrierError and refills; abort() breaks the barrier for good (every
// current and future wait() throws BrokenBarrierError until reset()).
//
// wait(), reset() and abort() are coroutines (Coro), as in Python: each call allocates its
// coroutine frame, unlike the other primitives' operations.
#pragma once

#include <string>

#include "asyncio/condition.hpp"
#include "asyncio/coroutines.hpp"

namespace asyncio {

/// Raised by Barrier::wait() when the barrier is reset or broken while the task waits, or is
/// broken when it arrives (Python: asyncio.BrokenBarrierError, a RuntimeError).
class BrokenBarrierError : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
  /// With the message "Barrier is broken" (Barrier itself raises it with more specific ones).
  BrokenBarrierError() : RuntimeError("Barrier is broken") {}
};

/// Blocks tasks until `parties` of them are waiting, then releases them all together (Python:
/// asyncio.Barrier). Reusable: after the release it fills again. Neither copyable nor movable.
class Barrier {
 public:
  /// A barrier for `parties` tasks. Throws ValueError("parties must be > 0") if parties < 1.
  explicit Barrier(int parties);
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  /// `int i = co_await barrier.wait()` (Python: `await barrier.wait()`): waits until
  /// parties() tasks are waiting, then returns this task's arrival index, 0 to parties()-1.
  /// A task arriving while the previous cycle drains waits for it to end first. Throws
  /// BrokenBarrierError("Barrier aborted") if the barrier is broken on arrival, and
  /// BrokenBarrierError("Abort or reset of barrier") if it is reset or aborted while waiting.
  /// Cancellable; a cancelled task leaves the barrier (n_waiting() drops).
  Coro<int> wait();

  /// Puts the barrier back to its initial, filling state (Python: Barrier.reset()). Tasks
  /// waiting in it get BrokenBarrierError. Also repairs a broken barrier.
  Coro<void> reset();

  /// Breaks the barrier (Python: Barrier.abort()): current and future wait() calls throw
  /// BrokenBarrierError until reset(). Useful when one party fails.
  Coro<void> abort();

  /// The number of tasks needed to pass the barrier (Python: Barrier.parties).
  int parties() const noexcept { return parties_; }
  /// The number of tasks waiting for the barrier to fill (Python: Barrier.n_waiting); 0
  /// while it drains, resets or is broken.
  int n_waiting() const noexcept { return state_ == State::Filling ? count_ : 0; }
  /// Whether the barrier is broken (Python: Barrier.broken).
  bool broken() const noexcept { return state_ == State::Broken; }

  /// A description like Python's repr(): "<asyncio::Barrier [filling, waiters:2/5]>",
  /// "<asyncio::Barrier [draining, waiters:0/5]>" or "<asyncio::Barrier [broken]>".
  std::string repr() const;

 private:
  enum class State { Filling, Draining, Resetting, Broken };

  void exit();

  Condition cond_;
  int parties_;
  State state_ = State::Filling;
  int count_ = 0;  // tasks inside wait(), past the drain check
};

}  // namespace asyncio
