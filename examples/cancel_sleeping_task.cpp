// cancel_sleeping_task — the Task.cancel() example of the docs ("Coroutines and Tasks"): the
// task sees CancelledError inside its sleep, cleans up and re-raises it.
//
// Python original (examples/python/cancel_sleeping_task.py):
//   async def cancel_me():
//       print('cancel_me(): before sleep')
//       try:
//           await asyncio.sleep(3600)
//       except asyncio.CancelledError:
//           print('cancel_me(): cancel sleep')
//           raise
//       finally:
//           print('cancel_me(): after sleep')
//
//   task = asyncio.create_task(cancel_me())
//   await asyncio.sleep(1)
//   task.cancel()
//   try:
//       await task
//   except asyncio.CancelledError:
//       print("main(): cancel_me is cancelled now")
//
// C++ has no `finally`: a scope guard's destructor plays its part.
#include <cstdio>
#include <utility>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

/// Runs a function when the scope ends, however it ends (Python's `finally:`).
template <class F>
class ScopeExit {
 public:
  explicit ScopeExit(F f) : f_(std::move(f)) {}
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;
  ~ScopeExit() { f_(); }

 private:
  F f_;
};

asyncio::Coro<> cancel_me() {
  std::puts("cancel_me(): before sleep");

  ScopeExit finally([] { std::puts("cancel_me(): after sleep"); });
  try {
    // Wait for 1 hour
    co_await asyncio::sleep(3600s);
  } catch (const asyncio::CancelledError&) {
    std::puts("cancel_me(): cancel sleep");
    throw;
  }
}

asyncio::Coro<int> amain() {
  // Create a "cancel_me" Task
  asyncio::Task<> task = asyncio::create_task(cancel_me());

  // Wait for 1 second
  co_await asyncio::sleep(1s);

  task.cancel();
  try {
    co_await task;
  } catch (const asyncio::CancelledError&) {
    std::puts("main(): cancel_me is cancelled now");
  }
  co_return 0;
}

int main() {
  return asyncio::run_main(amain());
}
