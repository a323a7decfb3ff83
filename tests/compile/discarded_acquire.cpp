// Must NOT compile with -Werror: a lock acquisition, a queue get and a coroutine call that
// are never awaited (each one's type or function is [[nodiscard]]).
#include "asyncio/asyncio.hpp"

asyncio::Coro<int> work() {
  co_return 1;
}

asyncio::Coro<> forgot_co_await(asyncio::Lock& lock) {
  lock.acquire();
  work();
  co_return;
}

int main() {
  asyncio::Lock lock;
  return asyncio::run(forgot_co_await(lock)), 0;
}
