// Must compile with -Werror: the same calls, awaited (or handed to a combinator).
#include "asyncio/asyncio.hpp"

using namespace std::chrono_literals;

asyncio::Coro<int> work() {
  co_return 1;
}

asyncio::Coro<> correct(asyncio::Lock& lock, asyncio::Queue<int>& q) {
  co_await asyncio::sleep(1ms);
  bool taken = co_await asyncio::wait_for(lock.acquire(), 1s);
  if (taken) lock.release();
  co_await work();
  q.put_nowait(1);
  co_await asyncio::gather(q.get(), asyncio::sleep(1ms), work());
  auto t = asyncio::create_task(asyncio::sleep(1ms));
  co_await t;
  co_await asyncio::shield(asyncio::to_thread([] { return 2; }));
}

int main() {
  asyncio::Lock lock;
  asyncio::Queue<int> q;
  asyncio::run(correct(lock, q));
}
