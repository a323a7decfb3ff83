// The program whose call graph tests/graph_test.cpp checks through every route (in-process
// capture/format, the signal dump, gdb on the live process and on a core file).
//
// 29 tasks: "main" runs a TaskGroup whose body (group_body) starts 10 lock waiters, 10 queue
// getters, a gather of 3 sleepers, a wait_for of a task, and a shield of a task; once all of
// them wait, group_body calls `inspect` (the route under test), then lets everything finish.
// The lines marked `// @name` are where the tasks wait: the tests find them by their marker,
// so this file can be edited freely.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "asyncio/asyncio.hpp"

namespace graphdemo {

using namespace std::chrono_literals;

struct World {
  asyncio::Lock lock;
  asyncio::Queue<int> queue;
  asyncio::Event never;
  asyncio::AnyTask gatherer;
  std::function<void(World&)> inspect;  // synchronous, runs inside the "main" task
  int settle = 0;  // loop iterations main waits after inspect, before letting everything go
};

inline asyncio::Coro<void> lock_leaf(World& w) {
  co_await w.lock.acquire();  // @lock_leaf
  w.lock.release();
}

inline asyncio::Coro<void> lock_waiter(World& w) {
  co_await lock_leaf(w);  // @lock_waiter
}

inline asyncio::Coro<int> queue_getter(World& w) {
  int v = co_await w.queue.get();  // @queue_get
  co_return v;
}

inline asyncio::Coro<void> sleeper() {
  co_await asyncio::sleep(3600s);  // @sleeper
}

inline asyncio::Coro<void> gatherer() {
  co_await asyncio::gather(sleeper(), sleeper(), sleeper());  // @gatherer
}

inline asyncio::Coro<void> event_waiter(World& w) {
  co_await w.never.wait();  // @event_waiter
}

inline asyncio::Coro<void> wait_for_user(World& w) {
  co_await asyncio::wait_for(asyncio::create_task(event_waiter(w), "timed"), 3600s);  // @wait_for
}

inline asyncio::Coro<void> shielded(World& w) {
  co_await w.never.wait();  // @shielded
}

inline asyncio::Coro<void> shield_user(World& w) {
  co_await asyncio::shield(asyncio::create_task(shielded(w), "shielded"));  // @shield_user
}

inline asyncio::Coro<void> group_body(World& w, asyncio::TaskGroup& tg) {
  for (int i = 0; i < 10; ++i) tg.create_task(lock_waiter(w), "locker-" + std::to_string(i));
  for (int i = 0; i < 10; ++i) tg.create_task(queue_getter(w), "getter-" + std::to_string(i));
  w.gatherer = tg.create_task(gatherer(), "gatherer");
  tg.create_task(wait_for_user(w), "waitfor");
  tg.create_task(shield_user(w), "shielder");
  for (int i = 0; i < 3; ++i) co_await asyncio::sleep(0s);  // @group_body
  w.inspect(w);
  for (int i = 0; i < w.settle; ++i) co_await asyncio::sleep(0s);  // @settle
  // Let everything finish: the lock, 10 items, the event; the sleepers are cancelled.
  w.lock.release();
  for (int i = 0; i < 10; ++i) w.queue.put_nowait(i);
  w.never.set();
  w.gatherer.cancel();
}

inline asyncio::Coro<void> main_coro(World& w) {
  co_await w.lock.acquire();  // held until group_body lets go
  auto body = [&w](asyncio::TaskGroup& tg) { return group_body(w, tg); };
  co_await asyncio::task_group(body);  // @main
}

/// Runs the scenario on a new loop; `inspect` runs once every task waits.
inline void run(std::function<void(World&)> inspect, int settle = 0) {
  World w;
  w.inspect = std::move(inspect);
  w.settle = settle;
  asyncio::EventLoop loop;
  auto main = loop.create_task(main_coro(w), "main");
  loop.run_until_complete(main);
  loop.close();
}

}  // namespace graphdemo
