// wait_for_timeout — asyncio.wait_for(): on timeout the awaited coroutine is cancelled and
// TimeoutError is raised ("Coroutines and Tasks").
//
// Python original (examples/python/wait_for_timeout.py):
//   async def eternity():
//       await asyncio.sleep(3600)
//       print('yay!')
//
//   try:
//       await asyncio.wait_for(eternity(), timeout=1.0)
//   except TimeoutError:
//       print('timeout!')
#include <cstdio>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

asyncio::Coro<> eternity() {
  // Sleep for one hour
  co_await asyncio::sleep(3600s);
  std::puts("yay!");
}

asyncio::Coro<int> amain() {
  // Wait for at most 1 second
  try {
    co_await asyncio::wait_for(eternity(), 1s);
  } catch (const asyncio::TimeoutError&) {
    std::puts("timeout!");
  }
  co_return 0;
}

int main() {
  return asyncio::run_main(amain());
}
