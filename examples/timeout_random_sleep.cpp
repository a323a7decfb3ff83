// timeout_random_sleep — asyncio.timeout() around a sleep of "random" length; the durations
// are fixed (0.2 s, then 1.0 s) so that the output is the same on every run.
//
// Python original (examples/python/timeout_random_sleep.py):
//   for round_no, delay in enumerate((0.2, 1.0), start=1):
//       try:
//           async with asyncio.timeout(0.5):
//               await asyncio.sleep(delay)
//           print(f"round {round_no}: sleep({delay}) finished at +...s")
//       except TimeoutError:
//           print(f"round {round_no}: sleep({delay}) timed out at +...s")
//
// `async with asyncio.timeout(0.5): body` becomes co_await asyncio::timeout(500ms, body),
// body being a coroutine lambda.
#include <array>
#include <cstdio>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

asyncio::Coro<int> amain() {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  const double start = loop.time();
  const std::array<asyncio::Duration, 2> delays{200ms, 1s};
  for (int round_no = 1; const asyncio::Duration delay : delays) {
    try {
      co_await asyncio::timeout(500ms, [&]() -> asyncio::Coro<> {
        co_await asyncio::sleep(delay);  // the body of the `async with`
      });
      std::printf("round %d: sleep(%.1f) finished at +%.1fs\n", round_no, delay.count(),
                  loop.time() - start);
    } catch (const asyncio::TimeoutError&) {
      std::printf("round %d: sleep(%.1f) timed out at +%.1fs\n", round_no, delay.count(),
                  loop.time() - start);
    }
    ++round_no;
  }
  co_return 0;
}

int main() {
  return asyncio::run_main(amain());
}
