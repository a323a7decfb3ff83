// asyncio/event.hpp — Event (Python: asyncio.Event).
//
//   asyncio::Event ready;
//   // task A:                        // task B:
//   co_await ready.wait();            ready.set();   // wakes every waiting task
//
// Semantics are Python 3.12's: set() wakes every task waiting at that moment, in the order
// they started waiting; they resume even if clear() is called before they run. wait() on a set
// event returns at once, without suspending. An Event belongs to one event loop and must
// outlive the tasks waiting on it (see lock.hpp).
#pragma once

#include <string>

#include "asyncio/lock.hpp"

namespace asyncio {

class Event;

namespace detail {

/// Awaiter of Event::wait().
class [[nodiscard]] EventWait final : public QueueAwaiter {
 public:
  explicit EventWait(Event& event) noexcept : event_(&event) {}

  inline bool await_ready() const noexcept;
  void await_suspend(std::coroutine_handle<> h);
  /// true, as Python's Event.wait() returns True.
  bool await_resume() {
    if (suspended()) remove_and_check(nullptr);  // set, then destroyed: still a success
    return true;
  }
  /// Call graphs: what the task waits on.
  std::string describe_wait() const override { return "Event.wait"; }

 private:
  Event* event_;
};

}  // namespace detail

/// A flag tasks can wait for (Python: asyncio.Event). Initially false. Neither copyable nor
/// movable.
class Event {
 public:
  /// Creates a cleared event.
  Event() noexcept = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  /// `co_await event.wait()` returns once the flag is true (Python: `await event.wait()`,
  /// which returns True) and gives true: at once if it is already set, else when set() is called.
  /// Cancellable: a cancelled wait throws CancelledError.
  [[nodiscard]] detail::EventWait wait() noexcept { return detail::EventWait(*this); }

  /// Sets the flag and wakes every waiting task (Python: Event.set()). Tasks calling wait()
  /// afterwards do not suspend. Does nothing if the flag is already set.
  void set();

  /// Resets the flag to false (Python: Event.clear()). Tasks already woken by set() still
  /// resume; later calls to wait() suspend until the next set().
  void clear() noexcept { value_ = false; }

  /// Whether the flag is true (Python: Event.is_set()).
  bool is_set() const noexcept { return value_; }

  /// A description like Python's repr(): "<asyncio::Event [unset, waiters:1]>".
  std::string repr() const;

 private:
  friend class detail::EventWait;

  detail::WaiterQueue waiters_;
  detail::LoopBound loop_;
  bool value_ = false;
};

inline bool detail::EventWait::await_ready() const noexcept {
  return event_->value_;
}

}  // namespace asyncio
