// taskgroup_two_sleepers — asyncio.TaskGroup, the structured alternative to create_task()
// ("Coroutines and Tasks").
//
// Python original (examples/python/taskgroup_two_sleepers.py):
//   async with asyncio.TaskGroup() as tg:
//       task1 = tg.create_task(say_after(1, 'hello'))
//       task2 = tg.create_task(say_after(2, 'world'))
//       print(f"started at +{loop.time() - start:.1f}s")
//   # The await is implicit when the context manager exits.
//   print(f"finished at +{loop.time() - start:.1f}s")
//   print(f"Both tasks have completed now: {task1.result()}, {task2.result()}")
//
// `async with` becomes asyncio::task_group(body): co_await returns once the body and every
// task of the group are done. The task handles are declared outside the body so that they can
// be read after the group, as in Python.
#include <cstdio>
#include <string>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

asyncio::Coro<std::string> say_after(asyncio::Duration delay, std::string what) {
  co_await asyncio::sleep(delay);
  std::puts(what.c_str());
  co_return what;
}

asyncio::Coro<int> amain() {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  const double start = loop.time();
  asyncio::Task<std::string> task1, task2;
  co_await asyncio::task_group([&](asyncio::TaskGroup& tg) -> asyncio::Coro<> {
    task1 = tg.create_task(say_after(1s, "hello"));
    task2 = tg.create_task(say_after(2s, "world"));

    std::printf("started at +%.1fs\n", loop.time() - start);
    co_return;
  });
  // The await is implicit when the scope ends.

  std::printf("finished at +%.1fs\n", loop.time() - start);
  std::printf("Both tasks have completed now: %s, %s\n", task1.result().c_str(),
              task2.result().c_str());
  co_return 0;
}

int main() {
  return asyncio::run_main(amain());
}
