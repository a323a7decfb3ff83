// The narrow interface futures and tasks use to reach the loop's internals.
#pragma once

#include "asyncio/detail/clock.hpp"
#include "asyncio/events.hpp"

namespace asyncio::detail {

class TaskBase;

struct LoopAccess {
  /// After close() nothing runs any more: an item scheduled then (a future completed, or a
  /// callback added to a done future, on a closed loop) is discarded at once, as close()
  /// discards queued items, instead of sitting in the dead queue and leaking what it owns.
  static void schedule(EventLoop& loop, ReadyItem item) {
    if (loop.closed_) [[unlikely]] {
      item.run(item.arg, true);
      return;
    }
    loop.ready_.push(item);
  }

  static void add_timer(EventLoop& loop, TimerEntry* e, std::int64_t when_ns) {
    e->when_ns = when_ns;
    e->seq = loop.timer_seq_++;
    loop.timers_.push(e);
  }
  static void remove_timer(EventLoop& loop, TimerEntry* e) noexcept {
    if (e->scheduled()) loop.timers_.remove(e);
  }
  static std::int64_t now_ns(const EventLoop& loop) noexcept { return loop.now_ns(); }

  static TaskBase* current_task(const EventLoop& loop) noexcept {
    return static_cast<TaskBase*>(loop.current_task_);
  }
  static void set_current_task(EventLoop& loop, TaskBase* t) noexcept { loop.current_task_ = t; }
  static IntrusiveList<PendingTask>& pending_tasks(EventLoop& loop) noexcept {
    return loop.pending_tasks_;
  }
  static void add_pending_task(EventLoop& loop, PendingTask* t,
                               void (*abandon)(PendingTask*) noexcept) noexcept {
    loop.abandon_task_ = abandon;
    loop.pending_tasks_.push_back(t);
  }
  static std::uint64_t next_task_number(EventLoop& loop) noexcept { return ++loop.task_counter_; }
  static bool debug(const EventLoop& loop) noexcept { return loop.debug_; }
  static void check_not_closed(const EventLoop& loop) { loop.check_not_closed(); }

  /// Registers `handler` for `fd` with the given interest (both false: unregisters). Cheap
  /// when the interest does not change. Throws std::system_error if epoll refuses the fd, and
  /// RuntimeError if add_reader()/add_writer() already watch it.
  static void watch_io(EventLoop& loop, int fd, IoHandler* handler, bool readable, bool writable) {
    loop.set_io_handler(fd, handler, readable, writable);
  }
  static void unwatch_io(EventLoop& loop, int fd) {
    loop.set_io_handler(fd, nullptr, false, false);
  }
  /// The io_uring backend's completion interface (src/reactor.hpp), or nullptr on epoll.
  static CompletionRing* ring(const EventLoop& loop) noexcept { return loop.ring_; }
  /// The IoHandler registered for `fd`, or nullptr.
  static IoHandler* io_handler(const EventLoop& loop, int fd) noexcept {
    return loop.io_handler_of(fd);
  }
  /// The async generators that started on `loop` and have not finished (async_generator.hpp).
  static IntrusiveList<LoopCloseHook>& asyncgens(EventLoop& loop) noexcept {
    return loop.asyncgens_;
  }
  /// Links `hook` so that close() tears it down (see LoopCloseHook).
  static void add_close_hook(EventLoop& loop, LoopCloseHook* hook) noexcept {
    loop.close_hooks_.push_back(hook);
  }
};

/// Nanoseconds of a Duration, saturated (see clock.hpp). NaN counts as zero: sleep(NaN)
/// returns after one iteration, as CPython's sleep(nan) does when its timer is due at once.
inline std::int64_t to_ns(Duration d) noexcept {
  return seconds_to_ns(d.count(), 0);
}

}  // namespace asyncio::detail
