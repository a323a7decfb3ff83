// create_task_two — create_task() runs two coroutines concurrently: 2 s instead of 3
// ("Coroutines and Tasks").
//
// Python original (examples/python/create_task_two.py):
//   task1 = asyncio.create_task(say_after(1, 'hello'))
//   task2 = asyncio.create_task(say_after(2, 'world'))
//   print(f"started at +{loop.time() - start:.1f}s")
//   await task1
//   await task2
//   print(f"finished at +{loop.time() - start:.1f}s")
//
// The docs print time.strftime('%X'); both versions print the elapsed time instead, so that
// the output is the same on every run.
#include <cstdio>
#include <string>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

asyncio::Coro<> say_after(asyncio::Duration delay, std::string what) {
  co_await asyncio::sleep(delay);
  std::puts(what.c_str());
}

asyncio::Coro<int> amain() {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  const double start = loop.time();

  asyncio::Task<> task1 = asyncio::create_task(say_after(1s, "hello"));
  asyncio::Task<> task2 = asyncio::create_task(say_after(2s, "world"));

  std::printf("started at +%.1fs\n", loop.time() - start);

  // Wait until both tasks are completed (should take around 2 seconds.)
  co_await task1;
  co_await task2;

  std::printf("finished at +%.1fs\n", loop.time() - start);
  co_return 0;
}

int main() {
  return asyncio::run_main(amain());
}
