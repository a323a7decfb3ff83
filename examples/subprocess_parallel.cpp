// subprocess_parallel — runs five commands concurrently, at most two at a time (a
// Semaphore), and gathers their exit codes. Job n sleeps kDurations[n] seconds, then exits
// with code n.
//
// Python original (examples/python/subprocess_parallel.py):
//   async def job(n, sem, loop, start):
//       async with sem:
//           print(f"[{loop.time() - start:.1f}s] job {n} started")
//           proc = await asyncio.create_subprocess_exec(
//               "sh", "-c", f"sleep {DURATIONS[n]}; exit {n}")
//           code = await proc.wait()
//           print(f"[{loop.time() - start:.1f}s] job {n} exited with {code}")
//           return code
//
//   sem = asyncio.Semaphore(2)
//   codes = await asyncio.gather(*(job(n, sem, loop, start) for n in range(len(DURATIONS))))
//
// Output (about 1.6 s in all; one after the other would take 3.0 s):
//   [0.0s] job 0 started
//   [0.0s] job 1 started
//   [0.5s] job 0 exited with 0
//   [0.5s] job 2 started
//   [0.8s] job 2 exited with 2
//   [0.8s] job 3 started
//   [1.0s] job 1 exited with 1
//   [1.0s] job 4 started
//   [1.4s] job 4 exited with 4
//   [1.6s] job 3 exited with 3
//   [1.6s] exit codes: [0, 1, 2, 3, 4]
//
// `async with sem:` is `auto permit = co_await sem.lock();` (released at the end of the
// scope); gather() over a vector of coroutines gives a vector of results in order.
#include <cstdio>
#include <string>
#include <vector>

#include <asyncio/asyncio.hpp>
#include <asyncio/locks.hpp>
#include <asyncio/subprocess.hpp>

namespace {

const std::vector<std::string> kDurations = {"0.5", "1.0", "0.3", "0.8", "0.4"};

asyncio::Coro<int> job(int n, asyncio::Semaphore& sem, double start) {
  auto permit = co_await sem.lock();
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  std::printf("[%.1fs] job %d started\n", loop.time() - start, n);
  asyncio::Process proc = co_await asyncio::create_subprocess_exec(
      "sh", "-c",
      "sleep " + kDurations[static_cast<std::size_t>(n)] + "; exit " + std::to_string(n));
  const int code = co_await proc.wait();
  std::printf("[%.1fs] job %d exited with %d\n", loop.time() - start, n, code);
  co_return code;
}

asyncio::Coro<int> amain() {
  asyncio::Semaphore sem(2);
  const double start = asyncio::get_running_loop().time();
  std::vector<asyncio::Coro<int>> jobs;
  for (int n = 0; n < static_cast<int>(kDurations.size()); ++n) jobs.push_back(job(n, sem, start));
  std::vector<int> codes = co_await asyncio::gather(std::move(jobs));
  std::string list;
  for (int code : codes) list += (list.empty() ? "" : ", ") + std::to_string(code);
  std::printf("[%.1fs] exit codes: [%s]\n", asyncio::get_running_loop().time() - start,
              list.c_str());
  co_return 0;
}

}  // namespace

int main() {
  return asyncio::run_main(amain());
}
