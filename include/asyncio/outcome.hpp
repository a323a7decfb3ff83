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
  /// Holds a value.
  Outcome(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  /// Holds an exception (Python: gather(return_exceptions=True) puts the exception object
  /// in the result list).
  Outcome(std::exception_ptr e) : v_(std::in_place_index<1>, std::move(e)) {}

  /// Whether it holds a value rather than an exception.
  /// Python: not isinstance(item, BaseException) in gather()'s result list.
  bool has_value() const noexcept { return v_.index() == 0; }
  /// has_value().
  explicit operator bool() const noexcept { return has_value(); }

  /// The value; rethrows the exception when there is none.
  /// C++ only (Python's list holds the value or the exception object).
  T& value() & {
    if (!has_value()) std::rethrow_exception(std::get<1>(v_));
    return std::get<0>(v_);
  }
  /// The value; rethrows the exception when there is none.
  /// C++ only (Python's list holds the value or the exception object).
  const T& value() const& {
    if (!has_value()) std::rethrow_exception(std::get<1>(v_));
    return std::get<0>(v_);
  }
  /// The value, moved out; rethrows the exception when there is none.
  /// C++ only (Python's list holds the value or the exception object).
  T&& value() && { return std::move(value()); }

  /// The exception, or null when there is a value.
  /// Python: the exception object in gather()'s result list.
  std::exception_ptr exception() const noexcept { return has_value() ? nullptr : std::get<1>(v_); }
  /// Whether the exception is a CancelledError (a cancelled child of gather).
  /// Python: isinstance(item, CancelledError).
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
/// Pass as gather()'s first argument for Python's `return_exceptions=True`.
inline constexpr ReturnExceptions return_exceptions{};

}  // namespace asyncio
