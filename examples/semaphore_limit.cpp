// semaphore_limit — four tasks, at most two at a time, under a Semaphore(2).
//
// The Python program this ports:
//
//     import asyncio
//
//     async def job(n, sem, loop, start):
//         async with sem:
//             print(f"[{loop.time() - start:.1f}s] task {n} started")
//             await asyncio.sleep(1)          # work
//             print(f"[{loop.time() - start:.1f}s] task {n} finished")
//
//     async def main():
//         sem = asyncio.Semaphore(2)
//         loop = asyncio.get_running_loop()
//         start = loop.time()
//         await asyncio.gather(*(job(n, sem, loop, start) for n in range(1, 5)))
//
//     asyncio.run(main())
//
// Output (about 2 s in total: tasks 3 and 4 start only when 1 and 2 have finished). Lines
// with the same time may come in another order when two timers expire in different loop
// iterations, e.g. "task 3 started" right after "task 1 finished":
//
//     [0.0s] task 1 started
//     [0.0s] task 2 started
//     [1.0s] task 1 finished
//     [1.0s] task 2 finished
//     [1.0s] task 3 started
//     [1.0s] task 4 started
//     [2.0s] task 3 finished
//     [2.0s] task 4 finished
#include <chrono>
#include <cstdio>
#include <vector>

#include "asyncio/asyncio.hpp"
#include "asyncio/locks.hpp"

using namespace std::chrono_literals;

namespace {

asyncio::Coro<void> job(int n, asyncio::Semaphore& sem, double start) {
  auto permit = co_await sem.lock();  // async with sem: (released at the end of the scope)
  std::printf("[%.1fs] task %d started\n", asyncio::get_running_loop().time() - start, n);
  co_await asyncio::sleep(1s);  // work
  std::printf("[%.1fs] task %d finished\n", asyncio::get_running_loop().time() - start, n);
}

asyncio::Coro<void> amain() {
  asyncio::Semaphore sem(2);
  const double start = asyncio::get_running_loop().time();
  std::vector<asyncio::Coro<void>> jobs;
  for (int n = 1; n <= 4; ++n) jobs.push_back(job(n, sem, start));
  co_await asyncio::gather(std::move(jobs));
}

}  // namespace

int main() {
  return asyncio::run_main(amain());
}
