// gather_factorial — the gather() example of the docs ("Coroutines and Tasks"): three
// factorials computed concurrently, results in argument order.
//
// Python original (examples/python/gather_factorial.py):
//   async def factorial(name, number):
//       f = 1
//       for i in range(2, number + 1):
//           print(f"Task {name}: Compute factorial({number}), currently i={i}...")
//           await asyncio.sleep(1)
//           f *= i
//       print(f"Task {name}: factorial({number}) = {f}")
//       return f
//
//   L = await asyncio.gather(factorial("A", 2), factorial("B", 3), factorial("C", 4))
//   print(L)
#include <cstdio>
#include <string>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

asyncio::Coro<long> factorial(std::string name, int number) {
  long f = 1;
  for (int i = 2; i <= number; ++i) {
    std::printf("Task %s: Compute factorial(%d), currently i=%d...\n", name.c_str(), number, i);
    co_await asyncio::sleep(1s);
    f *= i;
  }
  std::printf("Task %s: factorial(%d) = %ld\n", name.c_str(), number, f);
  co_return f;
}

asyncio::Coro<int> amain() {
  // Schedule three calls *concurrently*:
  auto [a, b, c] =
      co_await asyncio::gather(factorial("A", 2), factorial("B", 3), factorial("C", 4));
  std::printf("[%ld, %ld, %ld]\n", a, b, c);
  co_return 0;
}

int main() {
  return asyncio::run_main(amain());
}
