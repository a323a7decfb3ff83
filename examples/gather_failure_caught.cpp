// gather_failure_caught — without return_exceptions, gather() raises the first exception at
// once, but the other awaitables are not cancelled: they keep running.
//
// Python original (examples/python/gather_failure_caught.py):
//   slow1 = asyncio.create_task(worker("slow-1", 1.0, start))
//   failing = asyncio.create_task(fail_after(0.5))          # raises ValueError("boom")
//   slow2 = asyncio.create_task(worker("slow-2", 1.5, start))
//   try:
//       await asyncio.gather(slow1, failing, slow2)
//   except ValueError as e:
//       print(f"gather raised ValueError: {e} at +{since(start):.1f}s")
//   print("the other tasks keep running")
//   r1 = await slow1
//   r2 = await slow2
#include <cstdio>
#include <string>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

double since(double start) {
  return asyncio::get_running_loop().time() - start;
}

asyncio::Coro<std::string> worker(std::string name, asyncio::Duration delay, double start) {
  co_await asyncio::sleep(delay);
  std::printf("%s finished at +%.1fs\n", name.c_str(), since(start));
  co_return name;
}

asyncio::Coro<std::string> fail_after(asyncio::Duration delay) {
  co_await asyncio::sleep(delay);
  throw asyncio::ValueError("boom");
}

asyncio::Coro<int> amain() {
  const double start = asyncio::get_running_loop().time();
  auto slow1 = asyncio::create_task(worker("slow-1", 1s, start));
  auto failing = asyncio::create_task(fail_after(500ms));
  auto slow2 = asyncio::create_task(worker("slow-2", 1500ms, start));
  try {
    co_await asyncio::gather(slow1, failing, slow2);
  } catch (const asyncio::ValueError& e) {
    std::printf("gather raised ValueError: %s at +%.1fs\n", e.what(), since(start));
  }
  std::puts("the other tasks keep running");
  std::string r1 = co_await slow1;
  std::string r2 = co_await slow2;
  std::printf("results: %s, %s at +%.1fs\n", r1.c_str(), r2.c_str(), since(start));
  co_return 0;
}

int main() {
  return asyncio::run_main(amain());
}
