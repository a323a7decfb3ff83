// lock_shared_resource — two users of one resource under a Lock.
//
// The Python program this ports:
//
//     import asyncio
//
//     async def worker(n, lock, loop, start):
//         print(f"[{loop.time() - start:.1f}s] worker {n} wants the resource")
//         async with lock:
//             print(f"[{loop.time() - start:.1f}s] worker {n} acquires the resource")
//             await asyncio.sleep(1)          # use it
//             print(f"[{loop.time() - start:.1f}s] worker {n} releases the resource")
//
//     async def main():
//         lock = asyncio.Lock()
//         loop = asyncio.get_running_loop()
//         start = loop.time()
//         await asyncio.gather(worker(1, lock, loop, start), worker(2, lock, loop, start))
//         print(f"[{loop.time() - start:.1f}s] done")
//
//     asyncio.run(main())
//
// Output (both programs; about 2 s in total, because the lock lets one worker at a time in):
//
//     [0.0s] worker 1 wants the resource
//     [0.0s] worker 1 acquires the resource
//     [0.0s] worker 2 wants the resource
//     [1.0s] worker 1 releases the resource
//     [1.0s] worker 2 acquires the resource
//     [2.0s] worker 2 releases the resource
//     [2.0s] done
#include <chrono>
#include <cstdio>

#include "asyncio/asyncio.hpp"
#include "asyncio/locks.hpp"

using namespace std::chrono_literals;

namespace {

void say(double start, int worker, const char* what) {
  std::printf("[%.1fs] worker %d %s\n", asyncio::get_running_loop().time() - start, worker, what);
}

asyncio::Coro<void> worker(int n, asyncio::Lock& lock, double start) {
  say(start, n, "wants the resource");
  auto guard = co_await lock.lock();  // async with lock: (released at the end of the scope)
  say(start, n, "acquires the resource");
  co_await asyncio::sleep(1s);  // use it
  say(start, n, "releases the resource");
}

asyncio::Coro<void> amain() {
  asyncio::Lock lock;
  const double start = asyncio::get_running_loop().time();
  co_await asyncio::gather(worker(1, lock, start), worker(2, lock, start));
  std::printf("[%.1fs] done\n", asyncio::get_running_loop().time() - start);
}

}  // namespace

int main() {
  return asyncio::run_main(amain());
}
