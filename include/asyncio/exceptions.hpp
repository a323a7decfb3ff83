// asyncio/exceptions.hpp — the exception types of asyncio (Python: asyncio.exceptions).
//
// Mapping to Python:
//   CancelledError     BaseException subclass → deliberately NOT derived from std::exception,
//                      so `catch (const std::exception&)` never swallows a cancellation, exactly
//                      as `except Exception:` never catches CancelledError in Python 3.8+.
//   TimeoutError       builtins.TimeoutError (asyncio.TimeoutError is an alias since 3.11).
//   InvalidStateError  asyncio.InvalidStateError.
//   RuntimeError       builtins.RuntimeError, for misuse of the loop or a task.
//   ValueError         builtins.ValueError.
//   ExceptionGroup     builtins.ExceptionGroup, raised by TaskGroup.
#pragma once

#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace asyncio {

/// The operation (usually the awaiting task) was cancelled.
///
/// Not a `std::exception`: cancellation is a control-flow signal, not an error. Catch it
/// explicitly with `catch (const asyncio::CancelledError&)`, do your cleanup, and rethrow
/// (swallowing it breaks timeout(), wait_for() and TaskGroup, as in Python).
class CancelledError {
 public:
  CancelledError() = default;
  /// With the message given to `cancel(msg)` (Python: CancelledError(msg)).
  explicit CancelledError(std::string message) : message_(std::move(message)) {}

  /// The message given to `cancel(msg)`; empty when none was given.
  /// Python: the CancelledError's args[0].
  const std::string& message() const noexcept { return message_; }
  /// For symmetry with std::exception; never empty.
  /// Python: str(exc).
  const char* what() const noexcept {
    return message_.empty() ? "asyncio::CancelledError" : message_.c_str();
  }

 private:
  std::string message_;
};

/// A deadline set by timeout(), timeout_at() or wait_for() expired.
class TimeoutError : public std::runtime_error {
 public:
  TimeoutError() : std::runtime_error("asyncio::TimeoutError: the operation timed out") {}
  /// With a custom message.
  explicit TimeoutError(const std::string& what) : std::runtime_error(what) {}
};

/// A Future or Task is not in the state an operation needs (e.g. result() while pending).
class InvalidStateError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// Misuse of the event loop or of a task (Python's RuntimeError).
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An argument has the right type but a wrong value (Python's ValueError).
class ValueError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// A condition for ExceptionGroup::split()/subgroup(): `pred(const std::exception_ptr&)`
/// giving something convertible to bool (Python: a predicate taking the exception).
template <class P>
concept ExceptionPredicate = std::is_invocable_r_v < bool,
        std::remove_reference_t<P>
&, const std::exception_ptr& > ;

/// Several unrelated exceptions raised together, as by a TaskGroup whose children failed.
///
/// Holds the exceptions in the order they happened; `exceptions()` gives them for
/// rethrowing and inspection (Python's `eg.exceptions`).
class ExceptionGroup : public std::exception {
 public:
  /// Python: ExceptionGroup(message, exceptions).
  ExceptionGroup(std::string message, std::vector<std::exception_ptr> exceptions);

  /// "message (N sub-exceptions)" followed by one "  - description" line per exception
  /// (Python's str(eg) is the first line).
  const char* what() const noexcept override { return what_.c_str(); }
  /// The message alone, without the sub-exception count (Python's `eg.message`).
  const std::string& message() const noexcept { return message_; }
  /// The sub-exceptions, in order (Python: `eg.exceptions`).
  const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }

  /// The part of the group matching `E`, in the group's structure: nested groups stay nested
  /// (with their messages) and keep only their matching leaves; groups left empty disappear.
  /// nullopt if nothing matches. If the group itself is an `E` (E = std::exception, say), a
  /// copy of the whole group. Python: eg.subgroup(E) (which returns `eg` itself in that case).
  template <class E>
  std::optional<ExceptionGroup> subgroup() const {
    return split_impl(&matches_type<E>, nullptr, false).first;
  }
  /// As subgroup<E>(), selecting with `pred(const std::exception_ptr&)`, which is asked about
  /// the group itself first (as a copy), then depth first about each nested group (a group
  /// it accepts is taken whole) and each leaf. Python: eg.subgroup(predicate).
  template <ExceptionPredicate P>
  std::optional<ExceptionGroup> subgroup(P&& pred) const {
    return split_impl(&matches_pred<std::remove_reference_t<P>>, as_ctx(pred), false).first;
  }

  /// {subgroup<E>(), the rest}: the rest is the group without the matching leaves, in the
  /// same structure; either side is nullopt when empty. Python: eg.split(E).
  template <class E>
  std::pair<std::optional<ExceptionGroup>, std::optional<ExceptionGroup>> split() const {
    return split_impl(&matches_type<E>, nullptr, true);
  }
  /// As split<E>(), selecting with a predicate as subgroup(pred) does.
  /// Python: eg.split(predicate).
  template <ExceptionPredicate P>
  std::pair<std::optional<ExceptionGroup>, std::optional<ExceptionGroup>> split(P&& pred) const {
    return split_impl(&matches_pred<std::remove_reference_t<P>>, as_ctx(pred), true);
  }

  /// A group with this one's message and `exceptions` (Python: eg.derive(excs)).
  ExceptionGroup derive(std::vector<std::exception_ptr> exceptions) const {
    return ExceptionGroup(message_, std::move(exceptions));
  }

 private:
  using Matcher = bool (*)(const std::exception_ptr&, void* ctx);
  template <class E>
  static bool matches_type(const std::exception_ptr& e, void*) {
    try {
      std::rethrow_exception(e);
    } catch (const E&) {
      return true;
    } catch (...) {
      return false;
    }
  }
  template <class P>
  static void* as_ctx(P& pred) noexcept {
    return const_cast<void*>(static_cast<const void*>(&pred));
  }
  template <class P>
  static bool matches_pred(const std::exception_ptr& e, void* pred) {
    return static_cast<bool>((*static_cast<P*>(pred))(e));
  }
  /// CPython's exceptiongroup_split_recursive applied to this group.
  std::pair<std::optional<ExceptionGroup>, std::optional<ExceptionGroup>> split_impl(
      Matcher match, void* ctx, bool with_rest) const;

  std::string message_;
  std::string what_;
  std::vector<std::exception_ptr> exceptions_;
};

/// A human-readable one-line description of any exception (for logs and error messages):
/// the what() of a std::exception, the message of a CancelledError, or "unknown exception".
/// Python: str(exc), roughly.
std::string describe(const std::exception_ptr& e);

/// Formats `e` as Python prints an uncaught exception that carries no traceback (Python:
/// `traceback.format_exception(e)` for an exception object that was never raised): one line
/// `Type: message` (just `Type` when the message is empty), where Type is the exception's
/// dynamic C++ type with the `asyncio::` prefix dropped (`ValueError: bad value`,
/// `CancelledError`, `std::runtime_error: boom`, `myapp::ConfigError: ...`). An
/// ExceptionGroup is printed with its sub-exceptions, nested, in Python's layout (`  | `
/// margins, `+-+---- 1 ----` separators, at most 15 sub-exceptions per group and 10 levels,
/// as Python's defaults). Every line ends with '\n'.
std::string format_exception(const std::exception_ptr& e);

namespace detail {
/// The ExceptionGroup `e` holds, or null. The pointer lives as long as `e`'s exception.
const ExceptionGroup* as_group(const std::exception_ptr& e) noexcept;
}  // namespace detail

namespace detail {
/// Whether `e` holds a CancelledError.
bool is_cancelled_error(const std::exception_ptr& e) noexcept;
}  // namespace detail

}  // namespace asyncio
