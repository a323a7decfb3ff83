// async_generator_ticker — an async generator consumed by `async for`, closed early with
// aclose() after a `break`.
//
// Python original (examples/python/async_generator_ticker.py, PEP 525's ticker):
//   async def ticker(delay, to):
//       try:
//           for i in range(to):
//               yield i
//               await asyncio.sleep(delay)
//       finally:
//           print("ticker closed")
//
//   async for i in ticker(0.5, 3): print(f"tick {i} at +{loop.time() - start:.1f}s")
//   gen = ticker(0.5, 100)
//   async for i in gen:
//       print(f"tock {i} ..."); if i == 1: break
//   await gen.aclose()
//
// Output:
//   tick 0 at +0.0s
//   tick 1 at +0.5s
//   tick 2 at +1.0s
//   ticker closed
//   tock 0 at +1.5s
//   tock 1 at +2.0s
//   ticker closed
//   done at +2.0s
//
// `async for v in gen` is `while (auto v = co_await gen.next())` (an std::optional, empty at
// the end). Python's `finally` is a destructor here (a cleanup that must co_await is written
// with an exception_ptr, see docs/python-mapping.md).
#include <cstdio>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

asyncio::AsyncGenerator<int> ticker(asyncio::Duration delay, int to) {
  struct Finally {
    ~Finally() { std::puts("ticker closed"); }
  } finally;
  for (int i = 0; i < to; ++i) {
    co_yield i;
    co_await asyncio::sleep(delay);
  }
}

asyncio::Coro<> amain() {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  const double start = loop.time();
  auto ticks = ticker(0.5s, 3);
  while (auto i = co_await ticks.next())
    std::printf("tick %d at +%.1fs\n", *i, loop.time() - start);

  auto gen = ticker(0.5s, 100);
  while (auto i = co_await gen.next()) {
    std::printf("tock %d at +%.1fs\n", *i, loop.time() - start);
    if (*i == 1) break;
  }
  co_await gen.aclose();
  std::printf("done at +%.1fs\n", loop.time() - start);
}

int main() {
  return asyncio::run_main(amain());
}
