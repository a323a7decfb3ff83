// Helpers shared by the async generator tests.
#pragma once

#include <exception>
#include <string>
#include <vector>

#include "asyncio/async_generator.hpp"
#include "asyncio/tasks.hpp"

namespace agtest {

using Events = std::vector<std::string>;

/// Appends `what` to the events when it goes (Python: a `finally:` without await).
struct Say {
  Events& ev;
  const char* what;
  ~Say() { ev.push_back(what); }
};

// async def gen():            # the cleanup awaits, as Python's `finally: await ...` may
//     try:
//         yield 1
//         yield 2
//     finally:
//         print("cleanup start"); await asyncio.sleep(0); print("cleanup end")
inline asyncio::AsyncGenerator<int> two_with_cleanup(Events& ev) {
  std::exception_ptr error;
  try {
    co_yield 1;
    co_yield 2;
  } catch (...) {
    error = std::current_exception();  // C++: no co_await inside a catch handler
  }
  ev.push_back("cleanup start");
  co_await asyncio::sleep(std::chrono::seconds(0));
  ev.push_back("cleanup end");
  if (error) std::rethrow_exception(error);
}

}  // namespace agtest
