// runner_context — asyncio.Runner: one event loop for several top-level run() calls.
//
// Python original (examples/python/runner_context.py):
//   with asyncio.Runner() as runner:
//       loop = runner.get_loop()
//       n = runner.run(greet("first", 0.1))
//       n = runner.run(greet("second", 0.2))
//       if runner.get_loop() is loop: ...
//   # __exit__ closed the runner: leftover tasks cancelled, loop closed
//
// The context manager becomes RAII: leaving the block runs ~Runner(), which does what
// Runner.__exit__ does (Runner::close()).
#include <cstdio>
#include <string>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

// Coroutine parameters are taken by value: the frame outlives the caller's temporaries.
asyncio::Coro<std::size_t> greet(std::string name, asyncio::Duration delay) {
  co_await asyncio::sleep(delay);
  std::printf("hello, %s\n", name.c_str());
  co_return name.size();
}

int main() {
  {
    asyncio::Runner runner;
    const asyncio::EventLoop* loop = &runner.get_loop();
    std::size_t n = runner.run(greet("first", 100ms));
    std::printf("first run returned %zu\n", n);
    n = runner.run(greet("second", 200ms));
    std::printf("second run returned %zu\n", n);
    if (&runner.get_loop() == loop) std::puts("both runs used the same event loop");
  }  // ~Runner(): Python's __exit__
  std::puts("the with block closed the runner and its loop");
  return 0;
}
