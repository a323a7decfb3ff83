// Where a coroutine is suspended: the source location of a co_await, as recorded by
// CoroPromiseBase::await_transform for call graphs (asyncio/graph.hpp).
//
// ASYNCIO_CALL_GRAPH (0 or 1) decides whether each co_await in a Coro stores its location
// (one pointer store with std::source_location). Default: on unless NDEBUG, i.e. in debug
// builds only; define it to 1 (or 0) before including asyncio headers, or pass
// -DASYNCIO_CALL_GRAPH=1 to the compiler, to choose. The layout of every type is the same
// either way, so code built with and without it links together; frames of code built without
// it show no location. docs/debugging.md has the measured cost.
#pragma once

#include <cstdint>

#if !defined(ASYNCIO_CALL_GRAPH)
#if defined(NDEBUG)
#define ASYNCIO_CALL_GRAPH 0
#else
#define ASYNCIO_CALL_GRAPH 1
#endif
#endif

#if __has_include(<source_location>)
#include <source_location>
#endif

namespace asyncio::detail {

/// ASYNCIO_CALL_GRAPH as a constant, for `if constexpr`.
inline constexpr bool kCallGraph = ASYNCIO_CALL_GRAPH != 0;

#if defined(__cpp_lib_source_location)
/// One pointer to a static record of file, line and function.
using AwaitSite = std::source_location;
/// The caller's site, as a default argument: `AwaitSite site = ASYNCIO_DETAIL_CALLER_SITE`.
#define ASYNCIO_DETAIL_CALLER_SITE ::asyncio::detail::AwaitSite::current()
#else
/// Compilers without std::source_location (Clang 14 with libstdc++ 12): the same three values
/// from the builtins, stored by value (three stores instead of one).
struct AwaitSite {
  const char* file = nullptr;
  const char* function = nullptr;
  std::uint_least32_t line_ = 0;

  static constexpr AwaitSite current(const char* f = __builtin_FILE(),
                                     const char* fn = __builtin_FUNCTION(),
                                     std::uint_least32_t l = __builtin_LINE()) noexcept {
    AwaitSite s;
    s.file = f;
    s.function = fn;
    s.line_ = l;
    return s;
  }
  constexpr const char* file_name() const noexcept { return file ? file : ""; }
  constexpr const char* function_name() const noexcept { return function ? function : ""; }
  constexpr std::uint_least32_t line() const noexcept { return line_; }
};
// The builtins must appear in the default argument itself: nested in another call's default
// arguments they would name that call's site.
#define ASYNCIO_DETAIL_CALLER_SITE \
  ::asyncio::detail::AwaitSite::current(__builtin_FILE(), __builtin_FUNCTION(), __builtin_LINE())
#endif

}  // namespace asyncio::detail
