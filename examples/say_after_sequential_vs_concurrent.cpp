// say_after_sequential_vs_concurrent — awaiting coroutines one after the other (3 s) versus
// running them as tasks (2 s) ("Coroutines and Tasks").
//
// Python original (examples/python/say_after_sequential_vs_concurrent.py):
//   async def sequential():
//       await say_after(1, 'hello')
//       await say_after(2, 'world')
//
//   async def concurrent():
//       task1 = asyncio.create_task(say_after(1, 'hello'))
//       task2 = asyncio.create_task(say_after(2, 'world'))
//       await task1
//       await task2
//
// Both print the elapsed time where the docs print time.strftime('%X').
#include <cstdio>
#include <string>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

asyncio::Coro<> say_after(asyncio::Duration delay, std::string what) {
  co_await asyncio::sleep(delay);
  std::puts(what.c_str());
}

asyncio::Coro<> sequential() {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  const double start = loop.time();
  std::printf("started at +%.1fs\n", loop.time() - start);

  co_await say_after(1s, "hello");
  co_await say_after(2s, "world");

  std::printf("finished at +%.1fs\n", loop.time() - start);
}

asyncio::Coro<> concurrent() {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  const double start = loop.time();
  auto task1 = asyncio::create_task(say_after(1s, "hello"));
  auto task2 = asyncio::create_task(say_after(2s, "world"));

  std::printf("started at +%.1fs\n", loop.time() - start);

  // Wait until both tasks are completed (should take around 2 seconds.)
  co_await task1;
  co_await task2;

  std::printf("finished at +%.1fs\n", loop.time() - start);
}

asyncio::Coro<int> amain() {
  std::puts("sequential:");
  co_await sequential();
  std::puts("concurrent:");
  co_await concurrent();
  co_return 0;
}

int main() {
  return asyncio::run_main(amain());
}
