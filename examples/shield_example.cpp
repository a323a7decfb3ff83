// shield_example — asyncio.shield(): cancelling the task that awaits a shielded task cancels
// only the waiter; the inner task goes on and its result can still be awaited.
//
// Python original (examples/python/shield_example.py):
//   async def waiter(inner):
//       return await asyncio.shield(inner)
//
//   inner = asyncio.create_task(inner_work())
//   outer = asyncio.create_task(waiter(inner))
//   await asyncio.sleep(0.5)
//   outer.cancel()
//   try:
//       await outer
//   except asyncio.CancelledError:
//       print(f"main: outer was cancelled at ...; inner is still running")
//   result = await inner
#include <cstdio>
#include <string>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

asyncio::Coro<std::string> inner_work() {
  std::puts("inner: started");
  co_await asyncio::sleep(1s);
  std::puts("inner: finished");
  co_return "inner result";
}

asyncio::Coro<std::string> waiter(asyncio::Task<std::string> inner) {
  co_return co_await asyncio::shield(inner);
}

asyncio::Coro<int> amain() {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  const double start = loop.time();
  auto inner = asyncio::create_task(inner_work());
  auto outer = asyncio::create_task(waiter(inner));
  co_await asyncio::sleep(500ms);
  outer.cancel();
  try {
    co_await outer;
  } catch (const asyncio::CancelledError&) {
    std::printf("main: outer was cancelled at +%.1fs; inner is %s\n", loop.time() - start,
                inner.cancelled() ? "cancelled" : "still running");
  }
  std::string result = co_await inner;
  std::printf("main: inner returned '%s' at +%.1fs\n", result.c_str(), loop.time() - start);
  co_return 0;
}

int main() {
  return asyncio::run_main(amain());
}
