// display_date — the sleep() example of the docs ("Coroutines and Tasks"): display the current
// date every second for 5 seconds, with the loop's clock for the deadline.
//
// Python original (examples/python/display_date.py):
//   async def display_date():
//       loop = asyncio.get_running_loop()
//       end_time = loop.time() + 5.0
//       while True:
//           print(datetime.datetime.now())
//           if (loop.time() + 1.0) >= end_time:
//               break
//           await asyncio.sleep(1)
//
// Besides the date (which changes on every run) both versions print a tick number and the
// elapsed time. The date is formatted like Python's str(datetime.now()): local time,
// "YYYY-MM-DD HH:MM:SS.ffffff".
#include <time.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

/// Python's str(datetime.datetime.now()).
std::string now_string() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()) % 1s;
  std::tm local{};
  localtime_r(&secs, &local);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &local);
  std::snprintf(buf + n, sizeof buf - n, ".%06lld", static_cast<long long>(micros.count()));
  return buf;
}

asyncio::Coro<int> display_date() {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  const double start = loop.time();
  const double end_time = loop.time() + 5.0;
  for (int tick = 1;; ++tick) {
    std::printf("tick %d at +%.1fs: %s\n", tick, loop.time() - start, now_string().c_str());
    if (loop.time() + 1.0 >= end_time) break;
    co_await asyncio::sleep(1s);
  }
  co_return 0;
}

int main() {
  return asyncio::run_main(display_date());
}
