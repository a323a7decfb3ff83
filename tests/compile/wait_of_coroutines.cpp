// Must NOT compile: asyncio::wait() refuses coroutines, as Python 3.12's wait() raises
// TypeError("Passing coroutines is forbidden, use tasks explicitly.").
#include <vector>

#include "asyncio/asyncio.hpp"

asyncio::Coro<int> work() {
  co_return 1;
}

asyncio::Coro<> misuse() {
  std::vector<asyncio::Coro<int>> coros;
  coros.push_back(work());
  co_await asyncio::wait(std::move(coros));
}

int main() {
  asyncio::run(misuse());
}
