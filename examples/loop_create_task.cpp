// loop_create_task — the low-level way to start a task: create_task() on the running loop.
//
// Python original (examples/python/loop_create_task.py):
//   loop = asyncio.get_running_loop()
//   unnamed = loop.create_task(say_after(0.4, 'hello from an unnamed task'))
//   named = loop.create_task(say_after(0.2, 'hello from a named task'), name='greeter')
//   print(f"created {unnamed.get_name()} and {named.get_name()}")
//   print(f"{named.get_name()} returned {await named}")
//   print(f"{unnamed.get_name()} returned {await unnamed}")
//
// Unnamed tasks are called "Task-N" as in Python; the main task of run() is Task-1.
#include <cstdio>
#include <string>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

asyncio::Coro<std::size_t> say_after(asyncio::Duration delay, std::string what) {
  co_await asyncio::sleep(delay);
  std::puts(what.c_str());
  co_return what.size();
}

asyncio::Coro<int> amain() {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  auto unnamed = loop.create_task(say_after(400ms, "hello from an unnamed task"));
  auto named = loop.create_task(say_after(200ms, "hello from a named task"), "greeter");
  std::printf("created %s and %s\n", unnamed.get_name().c_str(), named.get_name().c_str());
  std::size_t n = co_await named;
  std::printf("%s returned %zu\n", named.get_name().c_str(), n);
  n = co_await unnamed;
  std::printf("%s returned %zu\n", unnamed.get_name().c_str(), n);
  co_return 0;
}

int main() {
  return asyncio::run_main(amain());
}
