// wait_first_completed — wait(..., FIRST_COMPLETED) returns as soon as one task is done; the
// others come back pending (still running) and we cancel them.
//
// Python original (examples/python/wait_first_completed.py):
//   tasks = [asyncio.create_task(job(0.5), name="fast"), ...(job(1.0), name="medium"),
//            ...(job(2.0), name="slow")]
//   done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
//   for t in done: print(f"done: {t.get_name()} -> {t.result()}")
//   for t in pending: t.cancel()
//   await asyncio.wait(pending)  # let the cancellations take effect
//
// Python returns sets (so the original iterates `tasks` to print in a stable order); the C++
// wait() returns vectors that keep the input order.
#include <cstdio>
#include <string>
#include <vector>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

asyncio::Coro<std::string> job(asyncio::Duration delay) {
  co_await asyncio::sleep(delay);
  char text[32];
  std::snprintf(text, sizeof text, "slept %.1fs", delay.count());
  co_return text;
}

asyncio::Coro<int> amain() {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  const double start = loop.time();
  std::vector<asyncio::Task<std::string>> tasks{
      asyncio::create_task(job(500ms), "fast"),
      asyncio::create_task(job(1s), "medium"),
      asyncio::create_task(job(2s), "slow"),
  };
  auto [done, pending] = co_await asyncio::wait(tasks, asyncio::FIRST_COMPLETED);
  std::printf("wait returned at +%.1fs: %zu done, %zu pending\n", loop.time() - start, done.size(),
              pending.size());
  for (const auto& t : done) {
    std::printf("done: %s -> %s\n", t.get_name().c_str(), t.result().c_str());
  }
  for (const auto& t : pending) t.cancel();
  co_await asyncio::wait(pending);  // let the cancellations take effect
  for (const auto& t : pending) {
    if (t.cancelled()) std::printf("cancelled: %s\n", t.get_name().c_str());
  }
  std::printf("finished at +%.1fs\n", loop.time() - start);
  co_return 0;
}

int main() {
  return asyncio::run_main(amain());
}
