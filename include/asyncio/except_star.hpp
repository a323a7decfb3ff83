// asyncio/except_star.hpp — Python's `except*` for ExceptionGroup (PEP 654), as a function.
//
//   try {
//     co_await asyncio::task_group(...);
//   } catch (...) {
//     asyncio::except_star(
//         std::current_exception(),
//         asyncio::except<asyncio::ValueError>([&](const asyncio::ExceptionGroup& g) { ... }),
//         asyncio::except<asyncio::TimeoutError>([&](const asyncio::ExceptionGroup& g) { ... }));
//   }
//
// is Python's
//
//   try: ...
//   except* ValueError as g: ...
//   except* TimeoutError as g: ...
//
// with its rules:
//   - The clauses are tried in order. Each takes, with split<E>(), the part of what is still
//     unhandled that matches E, and its handler is called once with that part, always an
//     ExceptionGroup in the original structure (a plain exception arrives wrapped in
//     ExceptionGroup("", {e}), as Python wraps it). A clause that matches nothing is skipped.
//   - Handlers run inside a catch block of the group they receive: `throw;` re-raises that
//     part, which then keeps its place in the original structure. Any other exception a
//     handler throws is a new one.
//   - At the end, what no handler took and what was re-raised form one group in the original
//     structure (Python's "rest"); with new exceptions, the result is
//     ExceptionGroup("", {new..., rest}), or the single exception when there is only one. That
//     is thrown; except_star() returns normally only when everything was handled.
//   - A plain exception that no clause matches is rethrown as it is, not wrapped.
// E may not be ExceptionGroup (Python's TypeError "catching ExceptionGroup with except* is not
// allowed. Use except instead." is a compile error here). Handlers are plain functions: to
// co_await in one, record what is needed and await after the catch block.
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "asyncio/exceptions.hpp"

namespace asyncio {

/// One `except* E as g:` clause for except_star(): `handler(const ExceptionGroup& g)` or
/// `handler()`.
template <class E, class F>
struct ExceptClause {
  F handler;  ///< Called with the matching part (Python: the clause's body).
};

/// Makes the clause `except* E:` running `handler`; see except_star().
/// Python: `except* E as g:`.
template <class E, class F>
ExceptClause<E, std::decay_t<F>> except(F&& handler) {
  static_assert(!std::is_base_of_v<ExceptionGroup, E>,
                "catching ExceptionGroup with except* is not allowed. Use except instead.");
  return {std::forward<F>(handler)};
}

namespace detail {

/// The state of one except* statement (CPython: the split loop and _PyExc_PrepReraiseStar).
class ExceptStar {
 public:
  explicit ExceptStar(std::exception_ptr e);

  template <class E, class F>
  void run(ExceptClause<E, F>& clause) {
    if (!rest_) return;
    auto [matched, rest] = rest_->template split<E>();
    if (!matched) return;
    matched_any_ = true;
    rest_ = std::move(rest);
    const std::exception_ptr part = std::make_exception_ptr(std::move(*matched));
    try {
      try {
        std::rethrow_exception(part);
      } catch (const ExceptionGroup& g) {
        if constexpr (std::is_invocable_v<F&, const ExceptionGroup&>) {
          clause.handler(g);
        } else {
          clause.handler();
        }
      }
    } catch (...) {
      record(std::current_exception(), part);
    }
  }

  /// Throws the outcome, or returns if every part was handled.
  void finish();

 private:
  void record(std::exception_ptr thrown, const std::exception_ptr& part);

  std::exception_ptr orig_;
  bool naked_ = false;                        // orig_ is not a group: it was wrapped
  bool matched_any_ = false;                  // some clause ran
  std::optional<ExceptionGroup> rest_;        // what no clause has taken yet
  std::vector<std::exception_ptr> raised_;    // new exceptions thrown by handlers, in order
  std::vector<std::exception_ptr> reraised_;  // parts handlers re-raised with `throw;`
};

}  // namespace detail

/// Runs the `except*` clauses made with except<E>() on `e` (usually std::current_exception()
/// in a catch block), then throws what is left, as Python's `try: ... except* E: ...` does.
/// See the header comment for the rules. Does nothing if `e` is null.
template <class... Clauses>
void except_star(std::exception_ptr e, Clauses&&... clauses) {
  if (!e) return;
  detail::ExceptStar statement(std::move(e));
  (statement.run(clauses), ...);
  statement.finish();
}

}  // namespace asyncio
