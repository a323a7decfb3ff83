// hello_world — the first example of the asyncio docs ("Coroutines and Tasks").
//
// Python original (examples/python/hello_world.py):
//   async def main():
//       print('hello')
//       await asyncio.sleep(1)
//       print('world')
//
//   asyncio.run(main())
#include <cstdio>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

asyncio::Coro<int> amain() {
  std::puts("hello");
  co_await asyncio::sleep(1s);
  std::puts("world");
  co_return 0;
}

int main() {
  return asyncio::run_main(amain());
}
