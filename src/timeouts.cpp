// Timeout: the state machine of Python's asyncio.timeouts.Timeout.

#include "asyncio/timeouts.hpp"

namespace asyncio {

const char* Timeout::state_name(State s) noexcept {
  switch (s) {
    case State::Created:
      return "created";
    case State::Entered:
      return "active";
    case State::Expiring:
      return "expiring";
    case State::Expired:
      return "expired";
    case State::Exited:
      return "finished";
  }
  return "?";
}

void Timeout::reschedule(std::optional<double> when) {
  if (state_ != State::Entered) {
    if (state_ == State::Created) throw RuntimeError("Timeout has not been entered");
    throw RuntimeError(std::string("Cannot change state of ") + state_name(state_) + " Timeout");
  }
  when_ = when;
  handle_.cancel();
  handle_ = Handle();
  if (!when) return;
  EventLoop& loop = get_running_loop();
  if (*when <= loop.time()) {
    handle_ = loop.call_soon([this] { on_timeout(); });
  } else {
    handle_ = loop.call_at(*when, [this] { on_timeout(); });
  }
}

void Timeout::enter() {
  if (state_ != State::Created) throw RuntimeError("Timeout has already been entered");
  task_ = current_task();
  if (!task_) throw RuntimeError("Timeout should be used inside a task");
  state_ = State::Entered;
  cancelling_ = task_.cancelling();
  reschedule(when_);
}

void Timeout::exit(const std::exception_ptr& body_exception) {
  handle_.cancel();
  handle_ = Handle();
  if (state_ == State::Expiring) {
    state_ = State::Expired;
    if (task_.uncancel() <= cancelling_ && detail::is_cancelled_error(body_exception)) {
      // Our own cancellation came out of the body: report it as the timeout it is.
      task_ = AnyTask();
      throw TimeoutError();
    }
  } else if (state_ == State::Entered) {
    state_ = State::Exited;
  }
  task_ = AnyTask();
}

Timeout timeout(std::optional<Duration> delay) {
  // Python reads the running loop even without a delay, so it fails the same way outside one.
  EventLoop& loop = get_running_loop();
  return Timeout(delay ? std::optional<double>(loop.time() + delay->count()) : std::nullopt);
}

Timeout timeout_at(std::optional<double> when) {
  return Timeout(when);
}

void Timeout::on_timeout() {
  task_.cancel();
  state_ = State::Expiring;
  handle_ = Handle();
}

}  // namespace asyncio
