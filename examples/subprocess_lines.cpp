// subprocess_lines — runs a command and reads its output line by line, as the lines arrive
// (not all at the end).
//
// Python original (examples/python/subprocess_lines.py):
//   proc = await asyncio.create_subprocess_exec(
//       "sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.5; done",
//       stdout=asyncio.subprocess.PIPE)
//   while True:
//       line = await proc.stdout.readline()
//       if not line:
//           break
//       print(f"[{loop.time() - start:.1f}s] {line.decode().rstrip()}")
//   code = await proc.wait()
//
// Output (one line every 0.5 s):
//   [0.0s] line 1
//   [0.5s] line 2
//   [1.0s] line 3
//   [1.5s] exit code 0
//
// Keyword arguments become a SubprocessOptions with designated initializers; proc.stdout is
// a std::optional<asyncio::StreamReader> (empty when stdout is not a PIPE, Python's None).
#include <cstdio>
#include <string>

#include <asyncio/asyncio.hpp>
#include <asyncio/subprocess.hpp>

asyncio::Coro<int> amain() {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  const double start = loop.time();
  asyncio::Process proc = co_await asyncio::create_subprocess_exec(
      "sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.5; done",
      asyncio::SubprocessOptions{.stdout = asyncio::PIPE});
  while (true) {
    std::string line = co_await proc.stdout->readline();
    if (line.empty()) break;  // EOF
    if (line.back() == '\n') line.pop_back();
    std::printf("[%.1fs] %s\n", loop.time() - start, line.c_str());
    std::fflush(stdout);
  }
  const int code = co_await proc.wait();
  std::printf("[%.1fs] exit code %d\n", loop.time() - start, code);
  co_return 0;
}

int main() {
  return asyncio::run_main(amain());
}
