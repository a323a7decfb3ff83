// Tests of async_with(), the AsyncContextManager protocol and AsyncContext (Python: the
// `async with` statement and contextlib.asynccontextmanager), and of the library types that
// follow the protocol: Lock, Semaphore, Condition, TaskGroup and Server.
//
// Each test states the Python 3.12 program it mirrors; the expected event logs are that
// program's output under CPython 3.12.1.
#include <gtest/gtest.h>

#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "asyncio/asyncio.hpp"
#include "hl_helpers.hpp"

using namespace std::chrono_literals;

namespace {

using namespace hltest;

using asyncio::CancelledError;
using asyncio::Coro;

using Log = std::vector<std::string>;

// Python:
//   class CM:
//       def __init__(self, name, suppress=False, raise_in_exit=None, raise_in_enter=None): ...
//       async def __aenter__(self):
//           print(self.name, "enter start"); await asyncio.sleep(0)
//           if self.rn: raise self.rn
//           print(self.name, "enter end"); return self.name + "-value"
//       async def __aexit__(self, et, e, tb):
//           print(self.name, "exit start", repr(e)); await asyncio.sleep(0)
//           print(self.name, "exit end")
//           if self.rx: raise self.rx
//           return self.suppress
struct CM {
  CM(Log& l, std::string n, bool s = false, std::exception_ptr rx = nullptr,
     std::exception_ptr rn = nullptr)
      : log(l), name(std::move(n)), suppress(s), raise_in_exit(rx), raise_in_enter(rn) {}

  Log& log;
  std::string name;
  bool suppress;
  std::exception_ptr raise_in_exit;
  std::exception_ptr raise_in_enter;

  Coro<std::string> aenter() {
    log.push_back(name + " enter start");
    co_await asyncio::sleep(0s);
    if (raise_in_enter) std::rethrow_exception(raise_in_enter);
    log.push_back(name + " enter end");
    co_return name + "-value";
  }
  Coro<bool> aexit(std::exception_ptr e) {
    log.push_back(name + " exit start " + (e ? asyncio::describe(e) : "None"));
    co_await asyncio::sleep(0s);
    log.push_back(name + " exit end");
    if (raise_in_exit) std::rethrow_exception(raise_in_exit);
    co_return suppress;
  }
};
static_assert(asyncio::AsyncContextManager<CM>);
static_assert(asyncio::AsyncContextManager<asyncio::Lock>);
static_assert(asyncio::AsyncContextManager<asyncio::Semaphore>);
static_assert(asyncio::AsyncContextManager<asyncio::BoundedSemaphore>);
static_assert(asyncio::AsyncContextManager<asyncio::Condition>);
static_assert(asyncio::AsyncContextManager<asyncio::TaskGroup>);
static_assert(asyncio::AsyncContextManager<asyncio::Timeout>);
static_assert(asyncio::AsyncContextManager<asyncio::Server>);
static_assert(!asyncio::AsyncContextManager<int>);
static_assert(!asyncio::AsyncContextManager<std::string>);

// async with CM("a") as v: print("body", v)
TEST(Contextlib, OrderOfEventsOnNormalExit) {
  Log log;
  run_main([&]() -> Coro<> {
    CM cm{log, "a"};
    // aexit can suppress (it gives bool), so a non-void body result comes back as optional.
    std::optional<int> r = co_await asyncio::async_with(cm, [&](std::string& v) -> Coro<int> {
      log.push_back("body " + v);
      co_return 7;
    });
    EXPECT_EQ(r, 7);
  });
  EXPECT_EQ(log, (Log{"a enter start", "a enter end", "body a-value", "a exit start None",
                      "a exit end"}));
}

// try:
//     async with CM("b") as v: raise ValueError("boom")
// except ValueError as e: print("caught", repr(e))
TEST(Contextlib, BodyExceptionGoesToExitThenPropagates) {
  Log log;
  run_main([&]() -> Coro<> {
    CM cm{log, "b"};
    auto err = co_await error_of(asyncio::async_with(cm, [&]() -> Coro<> {
      throw asyncio::ValueError("boom");
      co_return;
    }));
    EXPECT_TRUE(holds<asyncio::ValueError>(err));
    log.push_back("caught " + what_of(err));
  });
  EXPECT_EQ(
      log, (Log{"b enter start", "b enter end", "b exit start boom", "b exit end", "caught boom"}));
}

// async with CM("c", suppress=True) as v: raise ValueError("suppressed")
// print("after c")
TEST(Contextlib, ExitReturningTrueSuppresses) {
  Log log;
  run_main([&]() -> Coro<> {
    CM cm{log, "c", true};
    std::optional<int> r = co_await asyncio::async_with(cm, [&]() -> Coro<int> {
      throw asyncio::ValueError("suppressed");
      co_return 1;
    });
    EXPECT_FALSE(r.has_value());  // Python: the block was left, there is no value
    co_await asyncio::async_with(cm, [&]() -> Coro<> { co_return; });  // void body
    log.push_back("after c");
  });
  EXPECT_EQ(log,
            (Log{"c enter start", "c enter end", "c exit start suppressed", "c exit end",
                 "c enter start", "c enter end", "c exit start None", "c exit end", "after c"}));
}

// try:
//     async with CM("d", raise_in_exit=KeyError("exit")) as v: raise ValueError("body")
// except BaseException as e: print("caught", repr(e))    # KeyError('exit')
TEST(Contextlib, ExceptionFromExitReplacesTheBodys) {
  Log log;
  run_main([&]() -> Coro<> {
    CM cm{log, "d", false, std::make_exception_ptr(std::out_of_range("exit"))};
    auto err = co_await error_of(asyncio::async_with(cm, [&]() -> Coro<> {
      throw asyncio::ValueError("body");
      co_return;
    }));
    EXPECT_TRUE(holds<std::out_of_range>(err)) << what_of(err);
    log.push_back("caught " + what_of(err));
  });
  EXPECT_EQ(
      log, (Log{"d enter start", "d enter end", "d exit start body", "d exit end", "caught exit"}));
}

// try:
//     async with CM("e", raise_in_enter=OSError("enter")) as v: print("never")
// except BaseException as e: print("caught", repr(e))
TEST(Contextlib, ExceptionFromEnterSkipsBodyAndExit) {
  Log log;
  run_main([&]() -> Coro<> {
    CM cm{log, "e", false, nullptr, std::make_exception_ptr(asyncio::RuntimeError("enter"))};
    auto err = co_await error_of(asyncio::async_with(cm, [&]() -> Coro<> {
      log.push_back("never");
      co_return;
    }));
    log.push_back("caught " + what_of(err));
  });
  EXPECT_EQ(log, (Log{"e enter start", "caught enter"}));
}

// async def cancelled_body():
//     async with CM("f") as v:
//         print("body sleeping"); await asyncio.sleep(10)
// t = asyncio.create_task(cancelled_body()); await asyncio.sleep(0.01); t.cancel("stop")
// try: await t
// except asyncio.CancelledError as e: print("task cancelled", repr(e))
TEST(Contextlib, CancelledBodyRunsExitWithTheCancellation) {
  Log log;
  run_main([&]() -> Coro<> {
    CM cm{log, "f"};
    auto t = asyncio::create_task(asyncio::async_with(cm, [&]() -> Coro<> {
      log.push_back("body sleeping");
      co_await asyncio::sleep(10s);
    }));
    co_await asyncio::sleep(10ms);
    t.cancel("stop");
    auto err = co_await error_of(t);
    EXPECT_TRUE(holds<CancelledError>(err));
    log.push_back("task cancelled " + asyncio::describe(err));
    EXPECT_TRUE(t.cancelled());
  });
  EXPECT_EQ(log, (Log{"f enter start", "f enter end", "body sleeping",
                      "f exit start CancelledError: stop", "f exit end",
                      "task cancelled CancelledError: stop"}));
}

// async def cancelled_suppressed():
//     async with CM("g", suppress=True) as v: await asyncio.sleep(10)
//     print("after g, cancelling()", asyncio.current_task().cancelling())    # 1
//     return 5
// t = asyncio.create_task(cancelled_suppressed()); await asyncio.sleep(0.01); t.cancel()
// print("g result", await t)                                                 # 5
TEST(Contextlib, ExitMaySuppressACancellation) {
  Log log;
  run_main([&]() -> Coro<> {
    CM cm{log, "g", true};
    auto cancelled_suppressed = [&]() -> Coro<int> {
      co_await asyncio::async_with(cm, [&]() -> Coro<> { co_await asyncio::sleep(10s); });
      log.push_back("after g, cancelling() " +
                    std::to_string(asyncio::current_task().cancelling()));
      co_return 5;
    };
    auto t = asyncio::create_task(cancelled_suppressed());
    co_await asyncio::sleep(10ms);
    t.cancel();
    log.push_back("g result " + std::to_string(co_await t));
  });
  EXPECT_EQ(log, (Log{"g enter start", "g enter end", "g exit start CancelledError", "g exit end",
                      "after g, cancelling() 1", "g result 5"}));
}

// A manager whose aexit gives void can never suppress: the body's result comes back as it is.
TEST(Contextlib, VoidExitNeverSuppresses) {
  struct Plain {
    Log& log;
    Coro<> aenter() {
      log.push_back("enter");
      co_return;
    }
    Coro<> aexit(std::exception_ptr e) {
      log.push_back(e ? "exit " + asyncio::describe(e) : "exit");
      co_return;
    }
  };
  static_assert(asyncio::AsyncContextManager<Plain>);
  Log log;
  run_main([&]() -> Coro<> {
    int r = co_await asyncio::async_with(Plain{log}, [&]() -> Coro<int> { co_return 3; });
    EXPECT_EQ(r, 3);
    auto err = co_await error_of(asyncio::async_with(Plain{log}, [&]() -> Coro<int> {
      throw asyncio::ValueError("v");
      co_return 0;
    }));
    EXPECT_TRUE(holds<asyncio::ValueError>(err));
  });
  EXPECT_EQ(log, (Log{"enter", "exit", "enter", "exit v"}));
}

// lock = asyncio.Lock()
// async with lock as x: print("locked", lock.locked(), x)      # locked True None
// print("unlocked", lock.locked())
// try:
//     async with lock: lock.release()
// except RuntimeError as e: print(repr(e))                     # Lock is not acquired.
TEST(Contextlib, AsyncWithLock) {
  run_main([&]() -> Coro<> {
    asyncio::Lock lock;
    co_await asyncio::async_with(lock, [&]() -> Coro<> {
      EXPECT_TRUE(lock.locked());
      co_return;
    });
    EXPECT_FALSE(lock.locked());
    auto err = co_await error_of(asyncio::async_with(lock, [&]() -> Coro<> {
      lock.release();
      co_return;
    }));
    EXPECT_TRUE(holds<asyncio::RuntimeError>(err));
    EXPECT_EQ(what_of(err), "Lock is not acquired.");
    // An exception in the body releases the lock and propagates.
    err = co_await error_of(asyncio::async_with(lock, [&]() -> Coro<> {
      throw asyncio::ValueError("in body");
      co_return;
    }));
    EXPECT_TRUE(holds<asyncio::ValueError>(err));
    EXPECT_FALSE(lock.locked());
  });
}

// Two tasks in `async with lock:` blocks that sleep inside: they never overlap, and a task
// cancelled while waiting for the lock never runs its body or releases the lock.
//   async def worker(name):
//       async with lock:
//           log.append(name + " in"); await asyncio.sleep(0.01); log.append(name + " out")
//   a = create_task(worker("a")); b = create_task(worker("b")); c = create_task(worker("c"))
//   await asyncio.sleep(0); c.cancel(); await gather(a, b, c, return_exceptions=True)
TEST(Contextlib, AsyncWithLockSerialisesAndCancelledWaiterSkipsBody) {
  Log log;
  run_main([&]() -> Coro<> {
    asyncio::Lock lock;
    auto worker = [&](std::string name) -> Coro<> {
      co_await asyncio::async_with(lock, [&]() -> Coro<> {
        log.push_back(name + " in");
        co_await asyncio::sleep(10ms);
        log.push_back(name + " out");
      });
    };
    auto a = asyncio::create_task(worker("a"));
    auto b = asyncio::create_task(worker("b"));
    auto c = asyncio::create_task(worker("c"));
    co_await asyncio::sleep(0s);
    c.cancel();
    co_await asyncio::gather(asyncio::return_exceptions, a, b, c);
    EXPECT_TRUE(c.cancelled());
    EXPECT_FALSE(lock.locked());
  });
  EXPECT_EQ(log, (Log{"a in", "a out", "b in", "b out"}));
}

// sem = asyncio.Semaphore(1); async with sem as x: print("sem", sem.locked(), x)
// cond = asyncio.Condition(); async with cond as x: print("cond", cond.locked(), x)
TEST(Contextlib, AsyncWithSemaphoreAndCondition) {
  run_main([&]() -> Coro<> {
    asyncio::Semaphore sem(1);
    co_await asyncio::async_with(sem, [&]() -> Coro<> {
      EXPECT_TRUE(sem.locked());
      EXPECT_EQ(sem.value(), 0);
      co_return;
    });
    EXPECT_EQ(sem.value(), 1);
    asyncio::BoundedSemaphore bounded(1);
    auto err = co_await error_of(asyncio::async_with(bounded, [&]() -> Coro<> {
      bounded.release();
      co_return;
    }));
    EXPECT_EQ(what_of(err), "BoundedSemaphore released too many times");

    asyncio::Condition cond;
    bool notified = false;
    auto waiter = asyncio::create_task(asyncio::async_with(cond, [&]() -> Coro<> {
      EXPECT_TRUE(cond.locked());
      co_await cond.wait_for([&] { return notified; });
    }));
    co_await asyncio::sleep(0s);
    co_await asyncio::async_with(cond, [&]() -> Coro<> {
      notified = true;
      cond.notify();
      co_return;
    });
    co_await waiter;
    EXPECT_FALSE(cond.locked());
  });
}

// async with asyncio.TaskGroup() as tg:
//     tg.create_task(...)
// The async_with form of task_group(): the same rules, the group named by the caller.
TEST(Contextlib, AsyncWithTaskGroup) {
  Log log;
  run_main([&]() -> Coro<> {
    asyncio::TaskGroup tg;
    auto child = [&]() -> Coro<> {
      co_await asyncio::sleep(10ms);
      log.push_back("child done");
    };
    // std::optional: a TaskGroup's aexit can suppress (the CancelledError of its cancel()).
    std::optional<int> r =
        co_await asyncio::async_with(tg, [&](asyncio::TaskGroup& g) -> Coro<int> {
          EXPECT_EQ(&g, &tg);
          g.create_task(child());
          log.push_back("body done");
          co_return 4;
        });
    log.push_back("after " + std::to_string(r.value()));

    // A failing child: ExceptionGroup out of the statement, the body cancelled.
    asyncio::TaskGroup tg2;
    auto err = co_await error_of(asyncio::async_with(tg2, [&](asyncio::TaskGroup& g) -> Coro<> {
      g.create_task([]() -> Coro<> {
        throw asyncio::ValueError("child");
        co_return;
      }());
      try {
        co_await asyncio::sleep(10s);
      } catch (const CancelledError&) {
        log.push_back("body cancelled");
        throw;
      }
    }));
    EXPECT_TRUE(holds<asyncio::ExceptionGroup>(err));
    log.push_back(what_of(err));
    // Entering a group twice is Python's RuntimeError.
    auto again = co_await error_of(
        asyncio::async_with(tg2, [&](asyncio::TaskGroup&) -> Coro<> { co_return; }));
    EXPECT_EQ(what_of(again), "TaskGroup has already been entered");
  });
  EXPECT_EQ(log, (Log{"body done", "child done", "after 4", "body cancelled",
                      "unhandled errors in a TaskGroup (1 sub-exception)\n  - child"}));
}

// srv = await asyncio.start_server(handler, "127.0.0.1", 0)
// async with srv as s: print("server", s is srv, srv.is_serving())   # server True True
// print("closed", srv.is_serving(), srv.sockets)                     # closed False ()
TEST(Contextlib, AsyncWithServerClosesAndWaitsClosed) {
  run_main([&]() -> Coro<> {
    asyncio::Server srv = co_await asyncio::start_server(
        [](asyncio::StreamReader, asyncio::StreamWriter w) -> Coro<> {
          w.close();
          co_return;
        },
        "127.0.0.1", 0);
    std::string reply;
    co_await asyncio::async_with(srv, [&](asyncio::Server& s) -> Coro<> {
      EXPECT_EQ(s.impl(), srv.impl());
      EXPECT_TRUE(srv.is_serving());
      // A real client connects while the server is open.
      const auto port = srv.sockets().at(0).getsockname().port();
      auto [r, w] = co_await asyncio::open_connection("127.0.0.1", port);
      reply = co_await r.read();  // the handler closes: EOF
      w.close();
      co_await w.wait_closed();
    });
    EXPECT_EQ(reply, "");
    EXPECT_FALSE(srv.is_serving());
    EXPECT_TRUE(srv.sockets().empty());

    // A temporary server handle is moved into the statement; it is closed on an exception too.
    asyncio::Server kept;
    auto err = co_await error_of(asyncio::async_with(
        co_await asyncio::start_server(
            [](asyncio::StreamReader, asyncio::StreamWriter) -> Coro<> { co_return; }, "127.0.0.1",
            0),
        [&](asyncio::Server& s) -> Coro<> {
          kept = s;
          throw asyncio::ValueError("body");
          co_return;
        }));
    EXPECT_TRUE(holds<asyncio::ValueError>(err));
    EXPECT_FALSE(kept.is_serving());
    EXPECT_TRUE(kept.sockets().empty());
  });
}

// @contextlib.asynccontextmanager
// async def resource(log):
//     log.append("acquire"); await asyncio.sleep(0)
//     try:
//         yield 42
//     except ValueError:
//         log.append("swallowed")                 # not re-raised: suppressed
//     finally:
//         log.append("release"); await asyncio.sleep(0)
TEST(Contextlib, AsyncContextFromTwoCallables) {
  Log log;
  auto resource = [&log] {
    return asyncio::AsyncContext(
        [&log]() -> Coro<int> {
          log.push_back("acquire");
          co_await asyncio::sleep(0s);
          co_return 42;
        },
        [&log](int& v, std::exception_ptr e) -> Coro<bool> {
          const bool swallow = holds<asyncio::ValueError>(e);
          if (swallow) log.push_back("swallowed");
          log.push_back("release " + std::to_string(v));
          co_await asyncio::sleep(0s);
          co_return swallow;
        });
  };
  run_main([&]() -> Coro<> {
    co_await asyncio::async_with(resource(), [&](int& v) -> Coro<> {
      log.push_back("body " + std::to_string(v));
      co_return;
    });
    co_await asyncio::async_with(resource(), [&]() -> Coro<> {
      throw asyncio::ValueError("x");
      co_return;
    });
    auto err = co_await error_of(asyncio::async_with(resource(), [&]() -> Coro<> {
      throw std::out_of_range("k");
      co_return;
    }));
    EXPECT_TRUE(holds<std::out_of_range>(err));
    log.push_back("end");
  });
  EXPECT_EQ(log, (Log{"acquire", "body 42", "release 42", "acquire", "swallowed", "release 42",
                      "acquire", "release 42", "end"}));
}

}  // namespace

// Python 3.15:
//   async def main():
//       async with asyncio.TaskGroup() as tg:
//           async def child():
//               await asyncio.sleep(0); tg.cancel()
//           tg.create_task(child())
//           await asyncio.sleep(10)
//       print("after", asyncio.current_task().cancelling())   # after 0
// The group's own cancel() ends the block normally through async_with too, not only through
// task_group() (regression: aexit returned void, so the CancelledError escaped).
TEST(Contextlib, AsyncWithTaskGroupCancelEndsTheBlockNormally) {
  Log log;
  run_main([&]() -> Coro<> {
    asyncio::TaskGroup tg;
    std::optional<int> r =
        co_await asyncio::async_with(tg, [&](asyncio::TaskGroup& g) -> Coro<int> {
          g.create_task([](asyncio::TaskGroup& group) -> Coro<> {
            co_await asyncio::sleep(0s);
            group.cancel();
          }(g));
          co_await asyncio::sleep(10s);
          co_return 1;
        });
    log.push_back(r ? "value" : "no value");
    log.push_back("after " + std::to_string(asyncio::current_task().cancelling()));
  });
  EXPECT_EQ(log, (Log{"no value", "after 0"}));
}
