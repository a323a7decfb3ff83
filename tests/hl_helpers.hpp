// Helpers shared by the tests of the high-level task API (wait, wait_for, shield, timeouts,
// TaskGroup): running a main task that fails the test on anything the loop reports, catching
// what an await throws as a value (Python's assertRaises), and small coroutines.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "asyncio/asyncio.hpp"

namespace hltest {

using namespace std::chrono_literals;
using asyncio::Coro;

// Runs `main()` as the main task of a fresh Runner and closes it. Anything reported to the
// loop's exception handler (exceptions never retrieved, tasks destroyed while pending...)
// fails the test.
template <class F>
auto run_main(F main) {
  using T = typename decltype(main())::value_type;
  std::vector<std::string> reports;
  asyncio::Runner runner;
  runner.get_loop().set_exception_handler(
      [&reports](asyncio::EventLoop&, const asyncio::ExceptionContext& c) {
        reports.push_back(c.message + (c.task.empty() ? "" : " [" + c.task + "]") +
                          (c.exception ? ": " + asyncio::describe(c.exception) : ""));
      });
  auto finish = [&] {
    runner.close();
    for (const auto& r : reports) ADD_FAILURE() << "loop reported: " << r;
  };
  if constexpr (std::is_void_v<T>) {
    try {
      runner.run(main());
    } catch (...) {
      finish();
      throw;
    }
    finish();
  } else {
    std::optional<T> result;
    try {
      result.emplace(runner.run(main()));
    } catch (...) {
      finish();
      throw;
    }
    finish();
    return std::move(*result);
  }
}

// Awaits `aw` and returns what it threw, or null (Python's assertRaises as a value).
template <class A>
Coro<std::exception_ptr> error_of(A aw) {
  try {
    co_await std::move(aw);
  } catch (...) {
    co_return std::current_exception();
  }
  co_return nullptr;
}

template <class E>
bool holds(const std::exception_ptr& e) {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

// Sleeps and returns the CancelledError (or null): awaiters cannot be passed to error_of().
inline Coro<std::exception_ptr> sleep_error(asyncio::Duration d) {
  try {
    co_await asyncio::sleep(d);
  } catch (...) {
    co_return std::current_exception();
  }
  co_return nullptr;
}

inline std::string what_of(const std::exception_ptr& e) {
  return e ? asyncio::describe(e) : "(none)";
}

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

struct MyError : std::runtime_error {
  MyError() : std::runtime_error("MyError") {}
};

inline Coro<> sleep_forever() {
  co_await asyncio::sleep(3600s);
}

inline Coro<int> answer_after(asyncio::Duration d) {
  co_await asyncio::sleep(d);
  co_return 42;
}

// A vector of handles. (GCC 12 miscompiles a braced list inside a co_await expression:
// "array used as initializer".)
template <class H, class... Hs>
std::vector<H> vec(H h, Hs... hs) {
  return std::vector<H>{std::move(h), std::move(hs)...};
}

inline double now() {
  return asyncio::get_running_loop().time();
}

// Closes a loop whose tasks are still pending inside the combinator: their frames are
// destroyed ("Task was destroyed but it is pending!"); nothing may be left dangling or leak
// (the ASan build checks).
template <class Setup>
std::vector<std::string> close_loop_while_pending(Setup setup) {
  std::vector<std::string> reports;
  {
    asyncio::EventLoop loop;
    loop.set_exception_handler([&reports](asyncio::EventLoop&, const asyncio::ExceptionContext& c) {
      reports.push_back(c.message);
    });
    setup(loop);
    loop.close();
  }
  return reports;
}

inline std::size_t count_of(const std::vector<std::string>& v, const std::string& s) {
  return static_cast<std::size_t>(std::count(v.begin(), v.end(), s));
}

}  // namespace hltest
