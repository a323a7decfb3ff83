// coroutine_not_awaited — calling a coroutine function does not run it ("Coroutines and
// Tasks").
//
// Python original (examples/python/coroutine_not_awaited.py):
//   async def nested():
//       return 42
//
//   async def main():
//       nested()              # creates a coroutine object that never runs
//       print(await nested())  # will print "42".
//
// asyncio::Coro is lazy like a Python coroutine object: the call only creates the frame, and
// a Coro destroyed without being awaited never runs its body. As Python warns "coroutine
// 'nested' was never awaited" on stderr, debug builds report it (through the loop's exception
// handler, which prints "asyncio: coroutine 'nested' was never awaited (Task-1)"); release
// builds destroy it silently. Coro is [[nodiscard]], so the discarded call has to be spelled
// out.
#include <cstdio>

#include <asyncio/asyncio.hpp>

asyncio::Coro<int> nested() {
  co_return 42;
}

asyncio::Coro<int> amain() {
  // Nothing happens if we just call "nested()".
  // A coroutine object is created but not awaited,
  // so it *won't run at all*.
  static_cast<void>(nested());
  std::puts("nested() called without await: a coroutine object was created, its body did not run");

  // Let's do it differently now and await it:
  std::printf("%d\n", co_await nested());  // will print "42".
  co_return 0;
}

int main() {
  return asyncio::run_main(amain());
}
