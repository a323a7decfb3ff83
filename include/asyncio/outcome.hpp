// asyncio/outcome.hpp — Outcome<T>: a value or an exception, the element type of
// gather(return_exceptions, ...) (Python returns the exception object in the result list).
#pragma once

#include <exception>
#include <utility>
#include <variant>

#include "asyncio/exceptions.hpp"

namespace asyncio {

/// What gather() yields for a coroutine returning void: Python's None.
using Void = std::monostate;

/// Holds either a T or the exception that replaced it.
template <class T>
class Outcome {
 public:
  Outcome(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Outcome(std::exception_ptr e) : v_(std::in_place_index<1>, std::move(e)) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  /// The value; rethrows the exception when there is none.
  T& value() & {
    if (!has_value()) std::rethrow_exception(std::get<1>(v_));
    return std::get<0>(v_);
  }
  const T& value() const& {
    if (!has_value()) std::rethrow_exception(std::get<1>(v_));
    return std::get<0>(v_);
  }
  T&& value() && { return std::move(value()); }

  /// The exception, or null when there is a value.
  std::exception_ptr exception() const noexcept { return has_value() ? nullptr : std::get<1>(v_); }
  /// Whether the exception is a CancelledError (a cancelled child of gather).
  bool cancelled() const noexcept {
    if (has_value()) return false;
    try {
      std::rethrow_exception(std::get<1>(v_));
    } catch (const CancelledError&) {
      return true;
    } catch (...) {
      return false;
    }
  }

 private:
  std::variant<T, std::exception_ptr> v_;
};

/// Tag selecting the return_exceptions=True form of gather().
struct ReturnExceptions {
  explicit ReturnExceptions() = default;
};
inline constexpr ReturnExceptions return_exceptions{};

}  // namespace asyncio
