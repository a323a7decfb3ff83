// Task factories and eager tasks (Python 3.12: loop.set_task_factory, eager_task_factory,
// create_eager_task_factory; test_asyncio/test_eager_task_factory.py). Each expected log was
// produced by the same program run under CPython 3.12.1 (quoted next to each test).

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/asyncio.hpp"
#include "core_helpers.hpp"

using namespace std::chrono_literals;
using asyncio::AnyTask;
using asyncio::CancelledError;
using asyncio::Coro;
using asyncio::EventLoop;
using asyncio::NewTask;
using asyncio::Task;

namespace {

using Log = std::vector<std::string>;

std::string cur() {
  AnyTask t = asyncio::current_task();
  return t ? t.get_name() : "None";
}

template <class H>
bool in_all(const H& task) {
  for (const AnyTask& t : asyncio::all_tasks()) {
    if (static_cast<asyncio::detail::TaskBase*>(t.impl()) ==
        static_cast<asyncio::detail::TaskBase*>(task.impl()))
      return true;
  }
  return false;
}

std::string b(bool v) {
  return v ? "True" : "False";
}

void use_eager(bool eager) {
  if (eager) asyncio::get_running_loop().set_task_factory(asyncio::eager_task_factory);
}

using EagerFn = void (*)(EventLoop&, NewTask&);

}  // namespace

TEST(TaskFactoryTest, SetGetAndReset) {
  EventLoop loop;
  EXPECT_FALSE(loop.get_task_factory());  // Python: None
  loop.set_task_factory(asyncio::eager_task_factory);
  asyncio::TaskFactory f = loop.get_task_factory();
  ASSERT_TRUE(f);
  ASSERT_NE(f.target<EagerFn>(), nullptr);  // Python: `is asyncio.eager_task_factory`
  EXPECT_EQ(*f.target<EagerFn>(), &asyncio::eager_task_factory);
  loop.set_task_factory(nullptr);
  EXPECT_FALSE(loop.get_task_factory());
  loop.close();
}

// Python (t1.py): a child that returns at once, one that suspends, one that raises; the name
// given to create_task() is applied after the eager step, as in 3.12.
TEST(EagerTaskTest, RunsUntilFirstSuspensionInsideCreateTask) {
  Log log;
  auto child = [&](std::string tag, bool suspend) -> Coro<std::string> {
    log.push_back(tag + " start current=" + cur() +
                  " in_all=" + b(in_all(asyncio::current_task())));
    if (suspend) {
      co_await asyncio::sleep(0s);
      log.push_back(tag + " resumed");
    }
    log.push_back(tag + " end");
    co_return tag;
  };
  auto raiser = [&]() -> Coro<> {
    log.push_back("raiser start");
    throw asyncio::ValueError("boom");
    co_return;
  };
  auto main = [&]() -> Coro<> {
    EventLoop& loop = asyncio::get_running_loop();
    loop.set_task_factory(asyncio::eager_task_factory);
    AnyTask me = asyncio::current_task();
    Task<std::string> t = asyncio::create_task(child("a", false), "named");
    log.push_back("after a: done=" + b(t.done()) + " name=" + t.get_name() +
                  " current_is_me=" + b(asyncio::current_task() == me) + " in_all=" + b(in_all(t)) +
                  " result=" + t.result());
    t.add_done_callback([&](Task<std::string>&) { log.push_back("cb a"); });
    log.push_back("added cb a");
    Task<std::string> t2 = asyncio::create_task(child("b", true));
    log.push_back("after b: done=" + b(t2.done()) + " in_all=" + b(in_all(t2)));
    Task<> t3 = asyncio::create_task(raiser());  // does not throw
    std::string what;
    try {
      std::rethrow_exception(t3.exception());
    } catch (const asyncio::ValueError& e) {
      what = e.what();
    }
    log.push_back("after raiser: done=" + b(t3.done()) + " exc=" + what);
    co_await asyncio::sleep(0s);
    log.push_back("main after sleep0");
    co_await t2;
    log.push_back("main end");
    loop.set_task_factory(nullptr);
  };
  asyncio::run(main());
  const Log expected{
      "a start current=Task-2 in_all=True",
      "a end",
      "after a: done=True name=named current_is_me=True in_all=False result=a",
      "added cb a",
      "b start current=Task-3 in_all=True",
      "after b: done=False in_all=True",
      "raiser start",
      "after raiser: done=True exc=boom",
      "cb a",
      "b resumed",
      "b end",
      "main after sleep0",
      "main end",
  };
  EXPECT_EQ(log, expected);
}

// Python (t3.py): nested eager tasks, an eager task created from a plain callback, and the
// current task restored after each eager step.
TEST(EagerTaskTest, CurrentTaskIsSwappedInAndRestored) {
  Log log;
  auto inner = [&](std::string tag) -> Coro<> {
    log.push_back(tag + " start current=" + cur());
    co_await asyncio::sleep(0s);
    log.push_back(tag + " resumed current=" + cur());
  };
  auto outer = [&]() -> Coro<> {
    log.push_back("outer start current=" + cur());
    Task<> t = asyncio::create_task(inner("inner"));
    log.push_back("outer after create current=" + cur() + " inner_done=" + b(t.done()));
    co_await t;
    log.push_back("outer end current=" + cur());
  };
  auto main = [&]() -> Coro<> {
    EventLoop& loop = asyncio::get_running_loop();
    loop.set_task_factory(asyncio::eager_task_factory);
    Task<> a = asyncio::create_task(outer());
    log.push_back("main after outer current=" + cur() + " done=" + b(a.done()));
    co_await a;
    auto done = loop.create_future<void>();
    loop.call_soon([&] {
      log.push_back("cb before current=" + cur());
      Task<> t = loop.create_task(inner("fromcb"));
      log.push_back("cb after current=" + cur() + " done=" + b(t.done()));
      t.add_done_callback([done](Task<>&) { done.set_result(); });
    });
    co_await done;
  };
  asyncio::run(main());
  const Log expected{
      "outer start current=Task-2",
      "inner start current=Task-3",
      "outer after create current=Task-2 inner_done=False",
      "main after outer current=Task-1 done=False",
      "inner resumed current=Task-3",
      "outer end current=Task-2",
      "cb before current=None",
      "fromcb start current=Task-4",
      "cb after current=None done=False",
      "fromcb resumed current=Task-4",
  };
  EXPECT_EQ(log, expected);
}

// Python (t3.py): a task cancelled before its first suspension (only the task itself can do
// that: create_task() has not returned yet), and cancellation right after the eager step.
TEST(EagerTaskTest, CancellationBeforeAndAfterFirstSuspension) {
  Log log;
  auto self_cancel_then_sleep = [&]() -> Coro<> {
    asyncio::current_task().cancel("self");
    log.push_back("sc1 cancelling=" + std::to_string(asyncio::current_task().cancelling()));
    try {
      co_await asyncio::sleep(0s);
      log.push_back("sc1 not cancelled");
    } catch (const CancelledError& e) {
      log.push_back("sc1 caught " + e.message());
      throw;
    }
  };
  auto self_cancel_then_return = [&]() -> Coro<int> {
    asyncio::current_task().cancel("bye");
    log.push_back("sc2 returning");
    co_return 5;
  };
  auto self_cancel_then_future = [&](asyncio::Future<void> fut) -> Coro<std::string> {
    asyncio::current_task().cancel("fut");
    try {
      co_await fut;
    } catch (const CancelledError& e) {
      log.push_back("sc3 caught " + e.message() + " fut_cancelled=" + b(fut.cancelled()));
    }
    co_return "recovered";
  };
  auto waits = [&]() -> Coro<> {
    try {
      co_await asyncio::sleep(10s);
    } catch (const CancelledError& e) {
      log.push_back("waits cancelled " + e.message());
      throw;
    }
  };
  auto main = [&]() -> Coro<> {
    EventLoop& loop = asyncio::get_running_loop();
    loop.set_task_factory(asyncio::eager_task_factory);
    Task<> t1 = asyncio::create_task(self_cancel_then_sleep());
    log.push_back("sc1 done=" + b(t1.done()) + " cancelling=" + std::to_string(t1.cancelling()));
    try {
      co_await t1;
    } catch (const CancelledError& e) {
      log.push_back("sc1 awaited: cancelled " + e.message() + " cancelled()=" + b(t1.cancelled()));
    }
    Task<int> t2 = asyncio::create_task(self_cancel_then_return());
    log.push_back("sc2 done=" + b(t2.done()) + " cancelled=" + b(t2.cancelled()) +
                  " in_all=" + b(in_all(t2)));
    log.push_back("sc2 result: cancelled " + coretest::cancelled_message([&] { t2.result(); }));
    auto fut = loop.create_future<void>();
    Task<std::string> t3 = asyncio::create_task(self_cancel_then_future(fut));
    log.push_back("sc3 done=" + b(t3.done()) + " fut_cancelled=" + b(fut.cancelled()));
    log.push_back("sc3 result " + co_await t3);
    Task<> t5 = asyncio::create_task(waits());
    t5.cancel("outside");
    log.push_back("t5 cancelling=" + std::to_string(t5.cancelling()) + " done=" + b(t5.done()));
    try {
      co_await t5;
    } catch (const CancelledError& e) {
      log.push_back("t5 awaited " + e.message());
    }
  };
  asyncio::run(main());
  const Log expected{
      "sc1 cancelling=1",
      "sc1 done=False cancelling=1",
      "sc1 caught self",
      "sc1 awaited: cancelled self cancelled()=True",
      "sc2 returning",
      "sc2 done=True cancelled=True in_all=False",
      "sc2 result: cancelled bye",
      "sc3 done=False fut_cancelled=True",
      "sc3 caught fut fut_cancelled=True",
      "sc3 result recovered",
      "t5 cancelling=1 done=False",
      "waits cancelled outside",
      "t5 awaited outside",
  };
  EXPECT_EQ(log, expected);
}

// test_eager_task_factory.py: test_await_future_during_eager_step, test_eager_completion,
// test_cancellation_after_eager_completion, test_all_tasks_with_eager_completion,
// test_all_tasks_with_blocking.
TEST(EagerTaskTest, CPythonEagerFactoryLoopTests) {
  std::vector<AnyTask> captured;
  auto set_result = [](asyncio::Future<std::string> fut, std::string v) -> Coro<> {
    fut.set_result(std::move(v));
    co_return;
  };
  auto hello = []() -> Coro<std::string> { co_return "hello"; };
  auto capture = [&]() -> Coro<> {
    captured = asyncio::all_tasks();
    co_return;
  };
  auto blocking = [&](asyncio::Future<void> fut1, asyncio::Future<void> fut2) -> Coro<> {
    captured = asyncio::all_tasks();
    co_await fut1;
    fut2.set_result();
  };
  auto main = [&]() -> Coro<> {
    EventLoop& loop = asyncio::get_running_loop();
    loop.set_task_factory(asyncio::eager_task_factory);
    auto fut = loop.create_future<std::string>();
    Task<> t = asyncio::create_task(set_result(fut, "my message"));
    EXPECT_TRUE(t.done());
    EXPECT_EQ(co_await fut, "my message");

    Task<std::string> h = asyncio::create_task(hello());
    EXPECT_TRUE(h.done());
    EXPECT_FALSE(h.cancel());  // finished: cannot be cancelled
    EXPECT_EQ(co_await h, "hello");
    EXPECT_FALSE(h.cancelled());

    Task<> c = asyncio::create_task(capture());
    EXPECT_TRUE(std::find(captured.begin(), captured.end(), AnyTask(c)) != captured.end());
    EXPECT_FALSE(in_all(c));

    auto fut1 = loop.create_future<void>();
    auto fut2 = loop.create_future<void>();
    Task<> bl = asyncio::create_task(blocking(fut1, fut2));
    EXPECT_TRUE(std::find(captured.begin(), captured.end(), AnyTask(bl)) != captured.end());
    EXPECT_TRUE(in_all(bl));
    fut1.set_result();
    co_await fut2;
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(in_all(bl));
  };
  asyncio::run(main());
  captured.clear();
}

// Python (t2.py, scenario_tg): the body and the children interleave differently with eager
// tasks; the group's result is the same.
TEST(EagerTaskTest, TaskGroupOrderOfEvents) {
  Log log;
  auto child = [&](std::string tag, int n) -> Coro<std::string> {
    log.push_back(tag + " start");
    for (int i = 0; i < n; ++i) {
      co_await asyncio::sleep(0s);
      log.push_back(tag + " step" + std::to_string(i));
    }
    log.push_back(tag + " end");
    co_return tag;
  };
  auto main = [&](bool eager) -> Coro<> {
    use_eager(eager);
    co_await asyncio::task_group([&](asyncio::TaskGroup& tg) -> Coro<> {
      log.push_back("body start");
      (void)tg.create_task(child("a", 0));
      log.push_back("body after a");
      (void)tg.create_task(child("b", 2));
      log.push_back("body after b");
      (void)tg.create_task(child("c", 1));
      log.push_back("body end");
      co_return;
    });
    log.push_back("tg done");
  };
  asyncio::run(main(false));
  EXPECT_EQ(log, (Log{"body start", "body after a", "body after b", "body end", "a start", "a end",
                      "b start", "c start", "b step0", "c step0", "c end", "b step1", "b end",
                      "tg done"}));
  log.clear();
  asyncio::run(main(true));
  EXPECT_EQ(log, (Log{"body start", "a start", "a end", "body after a", "b start", "body after b",
                      "c start", "body end", "b step0", "c step0", "c end", "b step1", "b end",
                      "tg done"}));
}

// Python (t2.py, scenario_tg_fail, eager): a child failing in its eager step aborts the group
// inside create_task(): the body is cancelled at its next await.
TEST(EagerTaskTest, TaskGroupChildFailingEagerly) {
  Log log;
  auto slow = [&](std::string tag) -> Coro<> {
    log.push_back(tag + " start");
    try {
      co_await asyncio::sleep(10s);
    } catch (const CancelledError&) {
      log.push_back(tag + " cancelled");
      throw;
    }
  };
  auto fail = [&](std::string tag) -> Coro<> {
    log.push_back(tag + " start");
    log.push_back(tag + " raise");
    throw asyncio::ValueError(tag);
    co_return;
  };
  auto main = [&]() -> Coro<> {
    use_eager(true);
    try {
      co_await asyncio::task_group([&](asyncio::TaskGroup& tg) -> Coro<> {
        log.push_back("body start");
        (void)tg.create_task(slow("s"));
        log.push_back("body after s");
        (void)tg.create_task(fail("f"));
        log.push_back("body after f");
        try {
          co_await asyncio::sleep(0s);
          log.push_back("body after sleep0");
        } catch (const CancelledError&) {
          log.push_back("body cancelled");
          throw;
        }
      });
      log.push_back("tg done");
    } catch (const asyncio::ExceptionGroup& eg) {
      log.push_back("tg raised " + std::to_string(eg.exceptions().size()));
    }
    log.push_back("cancelling=" + std::to_string(asyncio::current_task().cancelling()));
  };
  asyncio::run(main());
  EXPECT_EQ(log, (Log{"body start", "s start", "body after s", "f start", "f raise", "body after f",
                      "s cancelled", "body cancelled", "tg raised 1", "cancelling=0"}));
}

// Python (t2.py, scenario_gather / scenario_gather_fail / scenario_wait_for).
TEST(EagerTaskTest, GatherAndWaitFor) {
  Log log;
  auto child = [&](std::string tag, int n) -> Coro<std::string> {
    log.push_back(tag + " start");
    for (int i = 0; i < n; ++i) {
      co_await asyncio::sleep(0s);
      log.push_back(tag + " step" + std::to_string(i));
    }
    log.push_back(tag + " end");
    co_return tag;
  };
  auto fail = [&](std::string tag) -> Coro<std::string> {
    log.push_back(tag + " start");
    log.push_back(tag + " raise");
    throw asyncio::ValueError(tag);
    co_return tag;
  };
  auto slow = [&](std::string tag) -> Coro<> {
    log.push_back(tag + " start");
    try {
      co_await asyncio::sleep(10s);
    } catch (const CancelledError&) {
      log.push_back(tag + " cancelled");
      throw;
    }
  };
  auto gather = [&](bool eager) -> Coro<> {
    use_eager(eager);
    log.push_back("gather start");
    auto g = asyncio::gather(child("a", 0), child("b", 1), child("c", 0));
    log.push_back("gather made done=" + b(g.done()));
    auto [ra, rb, rc] = co_await g;
    log.push_back("gather result " + ra + rb + rc);
    auto g2 = asyncio::gather(child("x", 0), child("y", 0));
    log.push_back("gather2 made done=" + b(g2.done()));
    auto [rx, ry] = co_await g2;
    log.push_back("gather2 result " + rx + ry);
  };
  auto gather_fail = [&](bool eager) -> Coro<> {
    use_eager(eager);
    try {
      co_await asyncio::gather(child("a", 0), fail("f"), child("c", 1));
    } catch (const asyncio::ValueError& e) {
      log.push_back(std::string("gather raised ") + e.what());
    }
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
  };
  auto wait_for = [&](bool eager) -> Coro<> {
    use_eager(eager);
    log.push_back("wait_for " + co_await asyncio::wait_for(child("w", 0), 1s));
    log.push_back("wait_for " + co_await asyncio::wait_for(child("w2", 1), 1s));
    try {
      co_await asyncio::wait_for(slow("ws"), 0.01s);
    } catch (const asyncio::TimeoutError&) {
      log.push_back("wait_for timeout");
    }
  };
  asyncio::run(gather(false));
  EXPECT_EQ(log,
            (Log{"gather start", "gather made done=False", "a start", "a end", "b start", "c start",
                 "c end", "b step0", "b end", "gather result abc", "gather2 made done=False",
                 "x start", "x end", "y start", "y end", "gather2 result xy"}));
  log.clear();
  asyncio::run(gather(true));
  EXPECT_EQ(log, (Log{"gather start", "a start", "a end", "b start", "c start", "c end",
                      "gather made done=False", "b step0", "b end", "gather result abc", "x start",
                      "x end", "y start", "y end", "gather2 made done=True", "gather2 result xy"}));
  log.clear();
  asyncio::run(gather_fail(false));
  EXPECT_EQ(log, (Log{"a start", "a end", "f start", "f raise", "c start", "c step0", "c end",
                      "gather raised f"}));
  log.clear();
  asyncio::run(gather_fail(true));
  EXPECT_EQ(log, (Log{"a start", "a end", "f start", "f raise", "c start", "gather raised f",
                      "c step0", "c end"}));
  for (bool eager : {false, true}) {
    log.clear();
    asyncio::run(wait_for(eager));
    EXPECT_EQ(log, (Log{"w start", "w end", "wait_for w", "w2 start", "w2 step0", "w2 end",
                        "wait_for w2", "ws start", "ws cancelled", "wait_for timeout"}))
        << "eager=" << eager;
  }
}

namespace {
Coro<> recursive_taskgroups(int width, int depth) {
  if (depth == 0) co_return;
  co_await asyncio::task_group([&](asyncio::TaskGroup& tg) -> Coro<> {
    for (int i = 0; i < width; ++i) (void)tg.create_task(recursive_taskgroups(width, depth - 1));
    co_return;
  });
}
Coro<> recursive_gather(int width, int depth) {
  if (depth == 0) co_return;
  std::vector<Coro<>> children;
  for (int i = 0; i < width; ++i) children.push_back(recursive_gather(width, depth - 1));
  co_await asyncio::gather(std::move(children));
}
}  // namespace

// test_eager_task_factory.py's task-counting tests, and t4.py: every create_task() goes
// through the factory (781 = 1 + 5 + ... + 5^4 tasks); with eager starts the whole tree
// finishes inside the first create_task().
TEST(TaskFactoryTest, CustomFactoriesSeeEveryTask) {
  int calls = 0, pending = 0;
  auto main = [&](bool tg) -> Coro<> {
    EventLoop& loop = asyncio::get_running_loop();
    loop.set_task_factory(asyncio::create_eager_task_factory([&](NewTask& t) {
      ++calls;
      t.start_eager();
      if (!t.task().done()) ++pending;
    }));
    Task<> t = asyncio::create_task(tg ? recursive_taskgroups(5, 4) : recursive_gather(5, 4));
    EXPECT_TRUE(t.done());
    EXPECT_EQ(calls, 781);
    EXPECT_EQ(pending, 0);
    co_await t;
    // A lazy factory: same count, every task scheduled.
    calls = pending = 0;
    loop.set_task_factory([&](EventLoop& l, NewTask& nt) {
      EXPECT_EQ(&l, &nt.loop());
      ++calls;
    });  // returns without starting: create_task() starts it (scheduled)
    Task<> t2 = asyncio::create_task(tg ? recursive_taskgroups(5, 4) : recursive_gather(5, 4));
    EXPECT_FALSE(t2.done());
    co_await t2;
    EXPECT_EQ(calls, 781);
  };
  for (bool tg : {true, false}) {
    SCOPED_TRACE(tg ? "taskgroups" : "gather");
    calls = pending = 0;
    asyncio::run(main(tg));
  }
}

// Python (t4.py): a factory that raises makes create_task() raise; the coroutine never ran.
// Here its frame is destroyed with the unstarted task, and nothing is left in all_tasks().
TEST(TaskFactoryTest, FactoryThatThrows) {
  bool ran = false, destroyed = false;
  struct Flag {
    bool* flag;
    ~Flag() { *flag = true; }
  };
  auto body = [&](std::shared_ptr<Flag>) -> Coro<> {
    ran = true;
    co_return;
  };
  auto main = [&]() -> Coro<> {
    EventLoop& loop = asyncio::get_running_loop();
    loop.set_task_factory(
        [](EventLoop&, NewTask&) { throw asyncio::RuntimeError("factory failed"); });
    const std::size_t before = asyncio::all_tasks().size();
    try {
      (void)asyncio::create_task(body(std::shared_ptr<Flag>(new Flag{&destroyed})));
      ADD_FAILURE() << "create_task() did not throw";
    } catch (const asyncio::RuntimeError& e) {
      EXPECT_STREQ(e.what(), "factory failed");
    }
    EXPECT_FALSE(ran);
    EXPECT_TRUE(destroyed);
    EXPECT_EQ(asyncio::all_tasks().size(), before);
    // Starting twice is refused; the task started once still runs.
    std::string second;
    loop.set_task_factory([&](EventLoop&, NewTask& t) {
      t.start_eager();
      try {
        t.start();
      } catch (const asyncio::RuntimeError& e) {
        second = e.what();
      }
    });
    Task<> t = asyncio::create_task(body(nullptr));
    EXPECT_TRUE(t.done());
    EXPECT_TRUE(ran);
    EXPECT_EQ(second, "the task is already started");
    // A factory may replace itself while it runs.
    loop.set_task_factory([&loop](EventLoop&, NewTask& nt) {
      loop.set_task_factory(nullptr);
      nt.start_eager();
    });
    ran = false;
    Task<> t2 = asyncio::create_task(body(nullptr));
    EXPECT_TRUE(t2.done());
    EXPECT_FALSE(loop.get_task_factory());
    co_return;
  };
  asyncio::run(main());
}

// Python: Task(eager_start=True) runs eagerly only on a running loop; loop.create_task()
// before run_until_complete() schedules the task as usual (test_awaitables_chain counts it).
TEST(EagerTaskTest, NotRunningLoopSchedulesAsUsual) {
  EventLoop loop;
  loop.set_task_factory(asyncio::eager_task_factory);
  bool ran = false;
  auto body = [&]() -> Coro<int> {
    ran = true;
    co_return 7;
  };
  Task<int> t = loop.create_task(body());
  EXPECT_FALSE(ran);
  EXPECT_FALSE(t.done());
  EXPECT_EQ(loop.run_until_complete(t), 7);
  EXPECT_TRUE(ran);
  loop.close();
}

// An eager task that fails and is dropped reports its exception, as any task (Python logs
// "Task exception was never retrieved" when the task is collected).
TEST(EagerTaskTest, DroppedFailedEagerTaskIsReported) {
  coretest::HandlerLog handler;
  auto boom = []() -> Coro<> {
    throw asyncio::ValueError("eager boom");
    co_return;
  };
  auto main = [&]() -> Coro<> {
    EventLoop& loop = asyncio::get_running_loop();
    handler.install(loop);
    loop.set_task_factory(asyncio::eager_task_factory);
    (void)asyncio::create_task(boom());
    co_await asyncio::sleep(0s);
  };
  asyncio::run(main());
  EXPECT_EQ(handler.count("Task exception was never retrieved"), 1u);
}

// Python (t5.py): shield() and wait_for(aw, 0) wrap the coroutine in a task; with eager tasks a
// coroutine that finishes in its first step gives its result even to wait_for(..., 0), where
// a scheduled task would be cancelled before it ever ran.
TEST(EagerTaskTest, ShieldAndZeroTimeoutWaitFor) {
  Log log;
  auto quick = [&](int v) -> Coro<int> {
    log.push_back("quick " + std::to_string(v));
    co_return v;
  };
  auto slow = [&](int v) -> Coro<int> {
    log.push_back("slow " + std::to_string(v) + " start");
    co_await asyncio::sleep(0s);
    log.push_back("slow " + std::to_string(v) + " end");
    co_return v;
  };
  auto main = [&](bool eager) -> Coro<> {
    use_eager(eager);
    log.push_back("shield " + std::to_string(co_await asyncio::shield(quick(1))));
    log.push_back("shield " + std::to_string(co_await asyncio::shield(slow(2))));
    try {
      log.push_back("wait_for0 " + std::to_string(co_await asyncio::wait_for(quick(3), 0s)));
    } catch (const asyncio::TimeoutError&) {
      log.push_back("wait_for0 timeout");
    }
    try {
      log.push_back("wait_for0 " + std::to_string(co_await asyncio::wait_for(slow(4), 0s)));
    } catch (const asyncio::TimeoutError&) {
      log.push_back("wait_for0 timeout");
    }
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
  };
  asyncio::run(main(false));
  EXPECT_EQ(log, (Log{"quick 1", "shield 1", "slow 2 start", "slow 2 end", "shield 2",
                      "wait_for0 timeout", "wait_for0 timeout"}));
  log.clear();
  asyncio::run(main(true));
  EXPECT_EQ(log, (Log{"quick 1", "shield 1", "slow 2 start", "slow 2 end", "shield 2", "quick 3",
                      "wait_for0 3", "slow 4 start", "wait_for0 timeout"}));
}
