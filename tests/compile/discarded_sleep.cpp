// Must NOT compile with -Werror: asyncio::sleep() called without co_await does nothing, and
// its [[nodiscard]] awaiter makes the mistake a diagnostic (tests/compile/CMakeLists.txt).
#include "asyncio/asyncio.hpp"

using namespace std::chrono_literals;

asyncio::Coro<> forgot_co_await() {
  asyncio::sleep(1s);  // the mistake: should be `co_await asyncio::sleep(1s);`
  co_return;
}

int main() {
  return asyncio::run(forgot_co_await()), 0;
}
