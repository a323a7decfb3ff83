// gather_in_order — gather() runs awaitables concurrently; they finish in any order but the
// results come back in argument order.
//
// Python original (examples/python/gather_in_order.py):
//   results = await asyncio.gather(
//       work("slow", 0.3),
//       work("medium", 0.2),
//       work("fast", 0.1),
//   )
//   print(f"results in argument order: {results}")
//
// The C++ gather of several coroutines gives a std::tuple; structured bindings unpack it.
#include <cstdio>
#include <string>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

asyncio::Coro<std::string> work(std::string name, asyncio::Duration delay) {
  co_await asyncio::sleep(delay);
  std::printf("%s finished after %.1fs\n", name.c_str(), delay.count());
  co_return name;
}

asyncio::Coro<int> amain() {
  auto [a, b, c] =
      co_await asyncio::gather(work("slow", 300ms), work("medium", 200ms), work("fast", 100ms));
  std::printf("results in argument order: ['%s', '%s', '%s']\n", a.c_str(), b.c_str(), c.c_str());
  co_return 0;
}

int main() {
  return asyncio::run_main(amain());
}
