// Tests of TaskGroup / task_group() (Python: test_asyncio/test_taskgroups.py): children's
// results, the first failure cancelling the siblings and the body, every failure in the
// ExceptionGroup, the body's exception joining it, child cancellation not being an error,
// cancellation of the parent from outside, RuntimeErrors of create_task/enter, and proof that
// no child outlives the group.
//
// Ordering relies on the loop's guarantees only: timers run in deadline order and sleep(0s)
// yields exactly one iteration. Wall-clock bounds, where checked at all, are generous upper
// bounds that only catch "the deadline was ignored", or lower bounds that timers guarantee
// (a timer never fires early).
#include <gtest/gtest.h>

#include <algorithm>
#include <exception>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "asyncio/asyncio.hpp"
#include "hl_helpers.hpp"

using namespace std::chrono_literals;

namespace {

using namespace hltest;

using asyncio::CancelledError;
using asyncio::Coro;
using asyncio::Duration;
using asyncio::TimeoutError;

using asyncio::ExceptionGroup;
using asyncio::Task;
using asyncio::TaskGroup;

struct ZeroDivision : std::runtime_error {
  ZeroDivision() : std::runtime_error("division by zero") {}
};
struct MyExc : std::runtime_error {
  MyExc() : std::runtime_error("MyExc") {}
};
struct ValueErr : std::runtime_error {
  explicit ValueErr(double t) : std::runtime_error("ValueErr " + std::to_string(t)) {}
};
struct CustomException : std::runtime_error {
  CustomException() : std::runtime_error("CustomException") {}
};

std::string kind(const std::exception_ptr& e) {
  if (!e) return "none";
  try {
    std::rethrow_exception(e);
  } catch (const ExceptionGroup&) {
    return "ExceptionGroup";
  } catch (const ZeroDivision&) {
    return "ZeroDivision";
  } catch (const MyExc&) {
    return "MyExc";
  } catch (const ValueErr&) {
    return "ValueErr";
  } catch (const CustomException&) {
    return "CustomException";
  } catch (const CancelledError&) {
    return "CancelledError";
  } catch (...) {
    return "other";
  }
}

// The ExceptionGroup held by `e`, if it holds one.
std::optional<ExceptionGroup> group_of(const std::exception_ptr& e) {
  if (!e) return std::nullopt;
  try {
    std::rethrow_exception(e);
  } catch (const ExceptionGroup& eg) {
    return eg;
  } catch (...) {
    return std::nullopt;
  }
}

// Python's get_error_types(eg): the set of kinds in the group (empty if `e` is no group).
std::set<std::string> error_types(const std::exception_ptr& e) {
  std::set<std::string> kinds;
  if (auto eg = group_of(e)) {
    for (const auto& x : eg->exceptions()) kinds.insert(kind(x));
  }
  return kinds;
}

std::vector<std::string> error_kinds_in_order(const std::exception_ptr& e) {
  std::vector<std::string> kinds;
  if (auto eg = group_of(e)) {
    for (const auto& x : eg->exceptions()) kinds.push_back(kind(x));
  }
  return kinds;
}

using Kinds = std::set<std::string>;

Coro<int> sleep_value(Duration d, int v) {
  co_await asyncio::sleep(d);
  co_return v;
}

Coro<> nap(Duration d) {
  co_await asyncio::sleep(d);
}

Coro<> crash_after(Duration d) {
  co_await asyncio::sleep(d);
  throw ValueErr(d.count());
}

// Sleeps; on cancellation throws ZeroDivision instead (Python: `finally: 1 / 0`).
Coro<> fail_when_cancelled() {
  try {
    co_await asyncio::sleep(10s);
  } catch (const CancelledError&) {
    throw ZeroDivision();
  }
}

// Counts how often it was cancelled, and re-raises.
Coro<> count_cancel(Duration d, int* counter) {
  try {
    co_await asyncio::sleep(d);
  } catch (const CancelledError&) {
    ++*counter;
    throw;
  }
}

// ---- test_taskgroups.py -----------------------------------------------------------------------

TEST(TaskGroup, TaskGroup01ChildrenResults) {
  run_main([&]() -> Coro<> {
    Task<int> t1, t2;
    co_await asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      t1 = g.create_task(sleep_value(10ms, 42));
      t2 = g.create_task(sleep_value(20ms, 11));
      co_return;
    });
    EXPECT_TRUE(t1.done() && t2.done());
    EXPECT_EQ(t1.result(), 42);
    EXPECT_EQ(t2.result(), 11);
  });
}

TEST(TaskGroup, TaskGroup02CreateAfterSleep) {
  run_main([&]() -> Coro<> {
    Task<int> t1, t2;
    co_await asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      t1 = g.create_task(sleep_value(10ms, 42));
      co_await asyncio::sleep(15ms);
      t2 = g.create_task(sleep_value(20ms, 11));
    });
    EXPECT_EQ(t1.result(), 42);
    EXPECT_EQ(t2.result(), 11);
  });
}

// test_taskgroup_03: a child cancelled explicitly is not an error.
TEST(TaskGroup, TaskGroup03ChildCancellationIsNotAnError) {
  run_main([&]() -> Coro<> {
    Task<int> t1, t2;
    std::exception_ptr err = co_await error_of(asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      t1 = g.create_task(sleep_value(1s, 42));
      co_await asyncio::sleep(15ms);
      t1.cancel();
      t2 = g.create_task(sleep_value(20ms, 11));
    }));
    EXPECT_EQ(err, nullptr) << what_of(err);
    EXPECT_TRUE(t1.cancelled());
    EXPECT_EQ(t2.result(), 11);
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
  });
}

// A child that cancels itself, and one cancelled while the group is exiting: neither is an
// error, and the body's scope ends normally.
TEST(TaskGroup, ChildCancellationWhileExitingIsNotAnError) {
  run_main([&]() -> Coro<> {
    Task<int> late;
    Task<void> self_cancel;
    int r = co_await asyncio::task_group([&](TaskGroup& g) -> Coro<int> {
      self_cancel = g.create_task([]() -> Coro<> {
        asyncio::current_task().cancel();
        co_await asyncio::sleep(1s);
      }());
      late = g.create_task(sleep_value(10s, 1));
      asyncio::get_running_loop().call_later(10ms, [late] { late.cancel(); });
      co_return 7;  // the group then waits for `late` in its exit
    });
    EXPECT_EQ(r, 7);
    EXPECT_TRUE(self_cancel.cancelled());
    EXPECT_TRUE(late.cancelled());
  });
}

// test_taskgroup_04: the first failure cancels the siblings; the code after the group does
// not run; the ExceptionGroup holds the failure.
TEST(TaskGroup, TaskGroup04FailureCancelsSiblings) {
  int num = 0;
  bool t2_cancel = false;
  run_main([&]() -> Coro<> {
    Task<void> t2;
    auto foo1 = []() -> Coro<> {
      co_await asyncio::sleep(10ms);
      throw ZeroDivision();
    };
    auto foo2 = [&]() -> Coro<> {
      try {
        co_await asyncio::sleep(1s);
      } catch (const CancelledError&) {
        t2_cancel = true;
        throw;
      }
      num += 1;
    };
    auto runner = [&]() -> Coro<> {
      co_await asyncio::task_group([&](TaskGroup& g) -> Coro<> {
        g.create_task(foo1());
        t2 = g.create_task(foo2());
        co_return;
      });
      num += 10;
    };
    Task<void> r = asyncio::create_task(runner());
    std::exception_ptr err = co_await error_of(r);
    EXPECT_EQ(kind(err), "ExceptionGroup") << what_of(err);
    EXPECT_EQ(error_types(err), Kinds{"ZeroDivision"});
    EXPECT_TRUE(t2.cancelled());
    // (r.cancelling() is 1 here in Python 3.12: see ChildFailsWhileTheGroupExits.)
  });
  EXPECT_EQ(num, 0);
  EXPECT_TRUE(t2_cancel);
}

// test_cancel_children_on_child_error: the body is interrupted too.
TEST(TaskGroup, CancelChildrenOnChildError) {
  int num = 0;
  bool t2_cancel = false, runner_cancel = false;
  run_main([&]() -> Coro<> {
    auto foo1 = []() -> Coro<> {
      co_await asyncio::sleep(10ms);
      throw ZeroDivision();
    };
    auto foo2 = [&]() -> Coro<> {
      try {
        co_await asyncio::sleep(5s);
      } catch (const CancelledError&) {
        t2_cancel = true;
        throw;
      }
      num += 1;
    };
    auto runner = [&]() -> Coro<> {
      co_await asyncio::task_group([&](TaskGroup& g) -> Coro<> {
        g.create_task(foo1());
        g.create_task(foo1());
        g.create_task(foo1());
        g.create_task(foo2());
        try {
          co_await asyncio::sleep(10s);
        } catch (const CancelledError&) {
          runner_cancel = true;
          throw;
        }
      });
      num += 10;
    };
    std::exception_ptr err = co_await error_of(asyncio::create_task(runner()));
    EXPECT_EQ(error_types(err), Kinds{"ZeroDivision"}) << what_of(err);
  });
  EXPECT_EQ(num, 0);
  EXPECT_TRUE(t2_cancel);
  EXPECT_TRUE(runner_cancel);
}

// Several children fail in the same iteration: every failure is in the group, in the order
// the children finished; the body's cancellation is not.
TEST(TaskGroup, MultipleFailuresAllInTheGroup) {
  run_main([&]() -> Coro<> {
    auto fail = [](int i) -> Coro<> {
      co_await asyncio::sleep(0s);
      throw std::runtime_error("fail " + std::to_string(i));
    };
    int cancels = 0;
    bool body_cancelled = false;
    std::exception_ptr err = co_await error_of(asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      for (int i = 1; i <= 3; ++i) g.create_task(fail(i));
      g.create_task(count_cancel(10s, &cancels));
      try {
        co_await asyncio::sleep(10s);
      } catch (const CancelledError&) {
        body_cancelled = true;
        throw;
      }
    }));
    auto eg = group_of(err);
    EXPECT_TRUE(eg.has_value()) << what_of(err);
    if (eg) {
      EXPECT_EQ(eg->message(), "unhandled errors in a TaskGroup");
      std::vector<std::string> messages;
      for (const auto& e : eg->exceptions()) messages.push_back(asyncio::describe(e));
      EXPECT_EQ(messages, (std::vector<std::string>{"fail 1", "fail 2", "fail 3"}));
    }
    EXPECT_EQ(cancels, 1);
    EXPECT_TRUE(body_cancelled);
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
  });
}

// test_cancellation: the task running the group is cancelled while the group waits for its
// children: the children are cancelled, CancelledError propagates, and the request stays
// counted on the parent (cancelling() == 1 right after, as in Python).
TEST(TaskGroup, CancellationFromOutsideWhileExiting) {
  int num = 0;
  run_main([&]() -> Coro<> {
    std::vector<Task<void>> children;
    int cancelling_after = -1;
    bool all_done_after = false;
    auto runner = [&]() -> Coro<> {
      std::exception_ptr err = co_await error_of(asyncio::task_group([&](TaskGroup& g) -> Coro<> {
        for (int i = 0; i < 5; ++i) children.push_back(g.create_task(count_cancel(5s, &num)));
        co_return;
      }));
      cancelling_after = asyncio::current_task().cancelling();
      all_done_after = true;
      for (auto& c : children) all_done_after = all_done_after && c.done();
      if (err) std::rethrow_exception(err);
    };
    Task<void> r = asyncio::create_task(runner());
    co_await asyncio::sleep(10ms);
    EXPECT_FALSE(r.done());
    r.cancel();
    std::exception_ptr err = co_await error_of(r);
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
    EXPECT_TRUE(r.cancelled());
    EXPECT_EQ(r.cancelling(), 1);
    EXPECT_EQ(cancelling_after, 1);
    EXPECT_TRUE(all_done_after);
    for (auto& c : children) EXPECT_TRUE(c.cancelled());
  });
  EXPECT_EQ(num, 5);
}

// test_taskgroup_07: cancelled while the body waits: the body and the children see it.
TEST(TaskGroup, TaskGroup07CancellationFromOutsideInBody) {
  int num = 0;
  run_main([&]() -> Coro<> {
    int cancelling_after = -1;
    auto runner = [&]() -> Coro<> {
      std::exception_ptr err = co_await error_of(asyncio::task_group([&](TaskGroup& g) -> Coro<> {
        for (int i = 0; i < 5; ++i) g.create_task(count_cancel(5s, &num));
        try {
          co_await asyncio::sleep(10s);
        } catch (const CancelledError&) {
          num += 10;
          throw;
        }
      }));
      cancelling_after = asyncio::current_task().cancelling();
      if (err) std::rethrow_exception(err);
    };
    Task<void> r = asyncio::create_task(runner());
    co_await asyncio::sleep(10ms);
    EXPECT_FALSE(r.done());
    r.cancel("stop");
    std::exception_ptr err = co_await error_of(r);
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
    EXPECT_TRUE(contains(what_of(err), "stop")) << what_of(err);
    EXPECT_EQ(cancelling_after, 1);
  });
  EXPECT_EQ(num, 15);
}

// test_taskgroup_08: children that fail while being cancelled turn the outside cancellation
// into an ExceptionGroup (errors have priority), with every failure.
TEST(TaskGroup, TaskGroup08FailuresDuringCancellation) {
  run_main([&]() -> Coro<> {
    auto runner = []() -> Coro<> {
      co_await asyncio::task_group([](TaskGroup& g) -> Coro<> {
        for (int i = 0; i < 5; ++i) g.create_task(fail_when_cancelled());
        co_await asyncio::sleep(10s);
      });
    };
    Task<void> r = asyncio::create_task(runner());
    co_await asyncio::sleep(10ms);
    EXPECT_FALSE(r.done());
    r.cancel();
    std::exception_ptr err = co_await error_of(r);
    EXPECT_EQ(error_types(err), Kinds{"ZeroDivision"}) << what_of(err);
    EXPECT_EQ(error_kinds_in_order(err).size(), 5u);
    EXPECT_FALSE(r.cancelled());
    EXPECT_EQ(r.cancelling(), 1);
  });
}

// test_taskgroup_09 / _10: the body's exception cancels the children and joins the group.
TEST(TaskGroup, TaskGroup09BodyFailsAfterSleep) {
  run_main([&]() -> Coro<> {
    Task<int> t1, t2;
    std::exception_ptr err = co_await error_of(asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      t1 = g.create_task(sleep_value(1s, 42));
      t2 = g.create_task(sleep_value(2s, 11));
      co_await asyncio::sleep(10ms);
      throw ZeroDivision();
    }));
    EXPECT_EQ(error_types(err), Kinds{"ZeroDivision"}) << what_of(err);
    EXPECT_TRUE(t1.cancelled());
    EXPECT_TRUE(t2.cancelled());
  });
}

TEST(TaskGroup, TaskGroup10BodyFailsAtOnce) {
  run_main([&]() -> Coro<> {
    Task<int> t1, t2;
    std::exception_ptr err = co_await error_of(asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      t1 = g.create_task(sleep_value(1s, 42));
      t2 = g.create_task(sleep_value(2s, 11));
      throw ZeroDivision();
      co_return;
    }));
    EXPECT_EQ(error_types(err), Kinds{"ZeroDivision"}) << what_of(err);
    EXPECT_TRUE(t1.cancelled());
    EXPECT_TRUE(t2.cancelled());
  });
}

// The body's exception comes after the children's failures in the group.
TEST(TaskGroup, BodyExceptionJoinsTheGroupLast) {
  run_main([&]() -> Coro<> {
    std::exception_ptr err = co_await error_of(asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      g.create_task(fail_when_cancelled());
      g.create_task(fail_when_cancelled());
      co_await asyncio::sleep(0s);  // let them start
      throw MyExc();
    }));
    EXPECT_EQ(error_kinds_in_order(err),
              (std::vector<std::string>{"ZeroDivision", "ZeroDivision", "MyExc"}))
        << what_of(err);
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
  });
}

// test_taskgroup_11: nested groups; the inner children fail while cancelled.
TEST(TaskGroup, TaskGroup11NestedGroupsCancelled) {
  run_main([&]() -> Coro<> {
    auto runner = []() -> Coro<> {
      co_await asyncio::task_group([](TaskGroup&) -> Coro<> {
        co_await asyncio::task_group([](TaskGroup& g2) -> Coro<> {
          for (int i = 0; i < 5; ++i) g2.create_task(fail_when_cancelled());
          co_await asyncio::sleep(10s);
        });
      });
    };
    Task<void> r = asyncio::create_task(runner());
    co_await asyncio::sleep(10ms);
    EXPECT_FALSE(r.done());
    r.cancel();
    std::exception_ptr err = co_await error_of(r);
    EXPECT_EQ(error_types(err), Kinds{"ExceptionGroup"}) << what_of(err);
    if (auto eg = group_of(err); eg && eg->exceptions().size() == 1) {
      EXPECT_EQ(error_types(eg->exceptions()[0]), Kinds{"ZeroDivision"});
    }
  });
}

TEST(TaskGroup, TaskGroup12NestedGroupsWithOuterChild) {
  run_main([&]() -> Coro<> {
    Task<void> outer_child;
    auto runner = [&]() -> Coro<> {
      co_await asyncio::task_group([&](TaskGroup& g1) -> Coro<> {
        outer_child = g1.create_task(nap(10s));
        co_await asyncio::task_group([](TaskGroup& g2) -> Coro<> {
          for (int i = 0; i < 5; ++i) g2.create_task(fail_when_cancelled());
          co_await asyncio::sleep(10s);
        });
      });
    };
    Task<void> r = asyncio::create_task(runner());
    co_await asyncio::sleep(10ms);
    EXPECT_FALSE(r.done());
    r.cancel();
    std::exception_ptr err = co_await error_of(r);
    EXPECT_EQ(error_types(err), Kinds{"ExceptionGroup"}) << what_of(err);
    if (auto eg = group_of(err); eg && eg->exceptions().size() == 1) {
      EXPECT_EQ(error_types(eg->exceptions()[0]), Kinds{"ZeroDivision"});
    }
    EXPECT_TRUE(outer_child.cancelled());
  });
}

// test_taskgroup_13: the outer group's child fails first; the inner group is cancelled
// (CancelledError, not an error of its own).
TEST(TaskGroup, TaskGroup13OuterChildFailsFirst) {
  run_main([&]() -> Coro<> {
    auto runner = []() -> Coro<> {
      co_await asyncio::task_group([](TaskGroup& g1) -> Coro<> {
        g1.create_task(crash_after(10ms));
        co_await asyncio::task_group([](TaskGroup& g2) -> Coro<> {
          g2.create_task(crash_after(10s));
          co_return;
        });
      });
    };
    std::exception_ptr err = co_await error_of(asyncio::create_task(runner()));
    EXPECT_EQ(error_kinds_in_order(err), (std::vector<std::string>{"ValueErr"})) << what_of(err);
  });
}

// test_taskgroup_14: the inner group's child fails first: its ExceptionGroup is the outer
// body's exception and joins the outer group.
TEST(TaskGroup, TaskGroup14InnerChildFailsFirst) {
  run_main([&]() -> Coro<> {
    auto runner = []() -> Coro<> {
      co_await asyncio::task_group([](TaskGroup& g1) -> Coro<> {
        g1.create_task(crash_after(10s));
        co_await asyncio::task_group([](TaskGroup& g2) -> Coro<> {
          g2.create_task(crash_after(10ms));
          co_return;
        });
      });
    };
    std::exception_ptr err = co_await error_of(asyncio::create_task(runner()));
    EXPECT_EQ(error_types(err), Kinds{"ExceptionGroup"}) << what_of(err);
    if (auto eg = group_of(err); eg && eg->exceptions().size() == 1) {
      EXPECT_EQ(error_types(eg->exceptions()[0]), Kinds{"ValueErr"});
    }
  });
}

// test_taskgroup_15: cancelled from outside; during the body's cleanup a child fails, which
// interrupts the cleanup; the failure wins over the cancellation.
TEST(TaskGroup, TaskGroup15ChildFailsDuringCleanupOfOutsideCancel) {
  run_main([&]() -> Coro<> {
    std::optional<bool> cleanup_interrupted;
    auto crash_soon = []() -> Coro<> {
      co_await asyncio::sleep(100ms);
      throw ZeroDivision();
    };
    auto runner = [&]() -> Coro<> {
      co_await asyncio::task_group([&](TaskGroup& g1) -> Coro<> {
        g1.create_task(crash_soon());
        std::exception_ptr e = co_await sleep_error(10s);
        if (e) {
          std::exception_ptr e2 = co_await sleep_error(300ms);  // cleanup
          cleanup_interrupted = e2 != nullptr;
          std::rethrow_exception(e2 ? e2 : e);
        }
      });
    };
    Task<void> r = asyncio::create_task(runner());
    co_await asyncio::sleep(10ms);
    EXPECT_FALSE(r.done());
    r.cancel();
    std::exception_ptr err = co_await error_of(r);
    EXPECT_EQ(error_types(err), Kinds{"ZeroDivision"}) << what_of(err);
    EXPECT_EQ(cleanup_interrupted, std::optional<bool>(true));
    EXPECT_EQ(r.cancelling(), 1);
  });
}

// test_taskgroup_16: same, with the group in a task awaited by the cancelled one.
TEST(TaskGroup, TaskGroup16ThroughAnotherTask) {
  run_main([&]() -> Coro<> {
    auto crash_soon = []() -> Coro<> {
      co_await asyncio::sleep(100ms);
      throw ZeroDivision();
    };
    auto nested_runner = [&]() -> Coro<> {
      co_await asyncio::task_group([&](TaskGroup& g1) -> Coro<> {
        g1.create_task(crash_soon());
        std::exception_ptr e = co_await sleep_error(10s);
        if (e) {
          std::exception_ptr e2 = co_await sleep_error(300ms);
          std::rethrow_exception(e2 ? e2 : e);
        }
      });
    };
    auto runner = [&]() -> Coro<> {
      Task<void> t = asyncio::create_task(nested_runner());
      co_await t;
    };
    Task<void> r = asyncio::create_task(runner());
    co_await asyncio::sleep(10ms);
    EXPECT_FALSE(r.done());
    r.cancel();
    std::exception_ptr err = co_await error_of(r);
    EXPECT_EQ(error_types(err), Kinds{"ZeroDivision"}) << what_of(err);
  });
}

// test_taskgroup_17: a group without children, cancelled in the body.
TEST(TaskGroup, TaskGroup17NoChildrenCancelled) {
  int num = 0;
  run_main([&]() -> Coro<> {
    auto runner = [&]() -> Coro<> {
      co_await asyncio::task_group([&](TaskGroup&) -> Coro<> {
        try {
          co_await asyncio::sleep(10s);
        } catch (const CancelledError&) {
          num += 10;
          throw;
        }
      });
    };
    Task<void> r = asyncio::create_task(runner());
    co_await asyncio::sleep(10ms);
    EXPECT_FALSE(r.done());
    r.cancel();
    std::exception_ptr err = co_await error_of(r);
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
  });
  EXPECT_EQ(num, 10);
}

// test_taskgroup_18: the body turns the cancellation into an error: it joins the group.
TEST(TaskGroup, TaskGroup18BodyReplacesCancellation) {
  int num = 0;
  run_main([&]() -> Coro<> {
    auto runner = [&]() -> Coro<> {
      co_await asyncio::task_group([&](TaskGroup&) -> Coro<> {
        try {
          co_await asyncio::sleep(10s);
        } catch (const CancelledError&) {
          num += 10;
          throw MyExc();
        }
      });
    };
    Task<void> r = asyncio::create_task(runner());
    co_await asyncio::sleep(10ms);
    EXPECT_FALSE(r.done());
    r.cancel();
    std::exception_ptr err = co_await error_of(r);
    EXPECT_EQ(error_types(err), Kinds{"MyExc"}) << what_of(err);
  });
  EXPECT_EQ(num, 10);
}

// test_taskgroup_19: a child fails; the body, interrupted, fails too: both are in the group,
// the child's first.
TEST(TaskGroup, TaskGroup19ChildAndBodyFail) {
  run_main([&]() -> Coro<> {
    auto crash_soon = []() -> Coro<> {
      co_await asyncio::sleep(10ms);
      throw ZeroDivision();
    };
    auto nested = []() -> Coro<> {
      try {
        co_await asyncio::sleep(10s);
      } catch (...) {
      }
      throw MyExc();  // "finally: raise MyExc"
    };
    std::exception_ptr err = co_await error_of(asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      g.create_task(crash_soon());
      co_await nested();
    }));
    EXPECT_EQ(error_kinds_in_order(err), (std::vector<std::string>{"ZeroDivision", "MyExc"}))
        << what_of(err);
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
  });
}

// test_taskgroup_22: cancelled while the children sleep.
TEST(TaskGroup, TaskGroup22CancelledWhileChildrenRun) {
  run_main([&]() -> Coro<> {
    auto runner = []() -> Coro<> {
      co_await asyncio::task_group([](TaskGroup& g) -> Coro<> {
        g.create_task(sleep_value(1s, 42));
        g.create_task(sleep_value(2s, 11));
        co_return;
      });
    };
    Task<void> r = asyncio::create_task(runner());
    co_await asyncio::sleep(5ms);
    r.cancel();
    std::exception_ptr err = co_await error_of(r);
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
  });
}

// test_taskgroup_23: children created over time all finish with the group.
TEST(TaskGroup, TaskGroup23ChildrenCreatedOverTime) {
  run_main([&]() -> Coro<> {
    std::vector<Task<void>> children;
    co_await asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      for (int count = 0; count < 10; ++count) {
        co_await asyncio::sleep(5ms);
        children.push_back(g.create_task(nap(15ms)));
        if (count == 5) {
          int pending = 0;
          for (auto& c : children) pending += c.done() ? 0 : 1;
          EXPECT_LT(pending, 6);
        }
      }
    });
    for (auto& c : children) EXPECT_TRUE(c.done() && !c.cancelled());
    EXPECT_EQ(asyncio::all_tasks().size(), 1u);
  });
}

// test_taskgroup_24: a child adds children to its group.
TEST(TaskGroup, TaskGroup24ChildCreatesChildren) {
  run_main([&]() -> Coro<> {
    std::vector<Task<void>> grandchildren;
    auto root = [&](TaskGroup& g) -> Coro<> {
      co_await asyncio::sleep(10ms);
      grandchildren.push_back(g.create_task(nap(10ms)));
      grandchildren.push_back(g.create_task(nap(20ms)));
    };
    co_await asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      g.create_task(root(g));
      co_return;
    });
    EXPECT_EQ(grandchildren.size(), 2u);
    for (auto& c : grandchildren) EXPECT_TRUE(c.done());
  });
}

// test_taskgroup_25: children spawn children until a sibling fails.
TEST(TaskGroup, TaskGroup25Hydra) {
  int nhydras = 0;
  run_main([&]() -> Coro<> {
    std::function<Coro<>(TaskGroup*)> hydra = [&](TaskGroup* g) -> Coro<> {
      ++nhydras;
      co_await asyncio::sleep(10ms);
      g->create_task(hydra(g));
      g->create_task(hydra(g));
    };
    auto hercules = [&]() -> Coro<> {
      while (nhydras < 10) co_await asyncio::sleep(15ms);
      throw ZeroDivision();
    };
    std::exception_ptr err = co_await error_of(asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      g.create_task(hydra(&g));
      g.create_task(hercules());
      co_return;
    }));
    EXPECT_EQ(error_types(err), Kinds{"ZeroDivision"}) << what_of(err);
    EXPECT_EQ(asyncio::all_tasks().size(), 1u);
  });
  EXPECT_GE(nhydras, 10);
}

TEST(TaskGroup, TaskName) {
  run_main([&]() -> Coro<> {
    co_await asyncio::task_group([](TaskGroup& g) -> Coro<> {
      Task<void> t = g.create_task(nap(0s), "yolo");
      EXPECT_EQ(t.get_name(), "yolo");
      co_return;
    });
  });
}

// test_taskgroup_no_create_task_after_failure
TEST(TaskGroup, NoCreateTaskAfterFailure) {
  run_main([&]() -> Coro<> {
    std::string refused;
    auto coro1 = []() -> Coro<> {
      co_await asyncio::sleep(1ms);
      throw ZeroDivision();
    };
    auto coro2 = [&](TaskGroup& g) -> Coro<> {
      try {
        co_await asyncio::sleep(1s);
      } catch (const CancelledError&) {
        try {
          g.create_task(coro1());
        } catch (const asyncio::RuntimeError& e) {
          refused = e.what();
        }
      }
    };
    std::exception_ptr err = co_await error_of(asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      g.create_task(coro1());
      g.create_task(coro2(g));
      co_return;
    }));
    EXPECT_EQ(error_kinds_in_order(err), (std::vector<std::string>{"ZeroDivision"}))
        << what_of(err);
    EXPECT_TRUE(contains(refused, "shutting down")) << refused;
  });
}

// test_taskgroup_context_manager_exit_raises (gh-95289): the body's cleanup replaces the
// group's own cancellation by an error; the parent's cancellation count is restored.
TEST(TaskGroup, ContextManagerExitRaises) {
  run_main([&]() -> Coro<> {
    auto raise_exc = []() -> Coro<> {
      throw CustomException();
      co_return;
    };
    auto main = [&]() -> Coro<> {
      std::exception_ptr err = co_await error_of(asyncio::task_group([&](TaskGroup& tg) -> Coro<> {
        // async with database(): ... finally: raise CustomException
        try {
          tg.create_task(raise_exc());
          co_await asyncio::sleep(1s);
        } catch (...) {
        }
        throw CustomException();
      }));
      EXPECT_EQ(asyncio::current_task().cancelling(), 0);
      EXPECT_EQ(error_kinds_in_order(err),
                (std::vector<std::string>{"CustomException", "CustomException"}))
          << what_of(err);
    };
    co_await asyncio::create_task(main());
  });
}

// After a child failure interrupted the body, the parent is not left cancelled.
TEST(TaskGroup, ParentNotLeftCancelledAfterChildFailure) {
  run_main([&]() -> Coro<> {
    std::exception_ptr err = co_await error_of(asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      g.create_task(crash_after(1ms));
      co_await asyncio::sleep(10s);
    }));
    EXPECT_EQ(error_types(err), Kinds{"ValueErr"}) << what_of(err);
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
    std::exception_ptr slept = co_await sleep_error(10ms);  // not cancelled any more
    EXPECT_EQ(slept, nullptr) << what_of(slept);
  });
}

// A child fails after the body finished, while the group waits in its exit: siblings are
// cancelled and the failure comes out. (Python 3.12 does not withdraw its cancel() of the
// parent in this case, so the parent's cancelling() count is not checked here; 3.13 fixed it,
// gh-116720.)
TEST(TaskGroup, ChildFailsWhileTheGroupExits) {
  run_main([&]() -> Coro<> {
    Task<int> slow;
    std::exception_ptr err = co_await error_of(asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      g.create_task(crash_after(10ms));
      slow = g.create_task(sleep_value(10s, 1));
      co_return;
    }));
    EXPECT_EQ(error_types(err), Kinds{"ValueErr"}) << what_of(err);
    EXPECT_TRUE(slow.cancelled());
  });
}

TEST(TaskGroup, ReturnsTheBodyResult) {
  run_main([&]() -> Coro<> {
    std::string r = co_await asyncio::task_group([](TaskGroup& g) -> Coro<std::string> {
      Task<int> t = g.create_task(sleep_value(1ms, 4));
      co_return "got " + std::to_string(co_await t);
    });
    EXPECT_EQ(r, "got 4");
    int empty = co_await asyncio::task_group([](TaskGroup&) -> Coro<int> { co_return 0; });
    EXPECT_EQ(empty, 0);
  });
}

// The group's deadline comes from a surrounding timeout(): the children are cancelled and
// the scope raises TimeoutError.
TEST(TaskGroup, InsideTimeout) {
  int cancels = 0;
  run_main([&]() -> Coro<> {
    std::vector<Task<void>> children;
    std::exception_ptr err = co_await error_of(asyncio::timeout(10ms, [&]() -> Coro<> {
      co_await asyncio::task_group([&](TaskGroup& g) -> Coro<> {
        for (int i = 0; i < 3; ++i) children.push_back(g.create_task(count_cancel(10s, &cancels)));
        co_return;
      });
    }));
    EXPECT_TRUE(holds<asyncio::TimeoutError>(err)) << what_of(err);
    for (auto& c : children) EXPECT_TRUE(c.cancelled());
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
  });
  EXPECT_EQ(cancels, 3);
}

// A timeout() inside a child expires: only that child sees TimeoutError (and may handle it).
TEST(TaskGroup, TimeoutInsideAChild) {
  run_main([&]() -> Coro<> {
    Task<int> handled;
    co_await asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      handled = g.create_task([]() -> Coro<int> {
        try {
          co_await asyncio::timeout(1ms, nap(10s));
        } catch (const asyncio::TimeoutError&) {
          co_return 1;
        }
        co_return 0;
      }());
      g.create_task(nap(5ms));
      co_return;
    });
    EXPECT_EQ(handled.result(), 1);
  });
}

// ---- RuntimeErrors ---------------------------------------------------------------------------

TEST(TaskGroup, AlreadyEntered) {
  run_main([&]() -> Coro<> {
    TaskGroup tg;
    tg.enter();
    std::string what;
    try {
      tg.enter();
    } catch (const asyncio::RuntimeError& e) {
      what = e.what();
    }
    EXPECT_TRUE(contains(what, "has already been entered")) << what;
    co_await tg.exit(nullptr);
  });
}

TEST(TaskGroup, DoubleEnter) {
  run_main([&]() -> Coro<> {
    TaskGroup tg;
    tg.enter();
    co_await tg.exit(nullptr);
    std::string what;
    try {
      tg.enter();
    } catch (const asyncio::RuntimeError& e) {
      what = e.what();
    }
    EXPECT_TRUE(contains(what, "has already been entered")) << what;
  });
}

// create_task() on a finished group: RuntimeError, and the coroutine is not run.
TEST(TaskGroup, CreateTaskAfterFinish) {
  bool ran = false;
  run_main([&]() -> Coro<> {
    TaskGroup tg;
    tg.enter();
    Task<int> child = tg.create_task(sleep_value(1ms, 1));
    co_await tg.exit(nullptr);
    EXPECT_EQ(child.result(), 1);
    auto coro = [&]() -> Coro<> {
      ran = true;
      co_return;
    };
    std::string what;
    try {
      tg.create_task(coro());
    } catch (const asyncio::RuntimeError& e) {
      what = e.what();
    }
    EXPECT_TRUE(contains(what, "is finished")) << what;
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
    EXPECT_EQ(asyncio::all_tasks().size(), 1u);
  });
  EXPECT_FALSE(ran);
}

TEST(TaskGroup, NotEntered) {
  run_main([&]() -> Coro<> {
    TaskGroup tg;
    std::string what;
    try {
      tg.create_task(nap(0s));
    } catch (const asyncio::RuntimeError& e) {
      what = e.what();
    }
    EXPECT_TRUE(contains(what, "has not been entered")) << what;
    co_return;
  });
}

TEST(TaskGroup, WithoutParentTask) {
  run_main([&]() -> Coro<> {
    auto& loop = asyncio::get_running_loop();
    TaskGroup tg;
    std::string enter_error, create_error;
    loop.call_soon([&] {
      try {
        tg.enter();
      } catch (const asyncio::RuntimeError& e) {
        enter_error = e.what();
      }
      try {
        tg.create_task(nap(0s));
      } catch (const asyncio::RuntimeError& e) {
        create_error = e.what();
      }
    });
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
    EXPECT_TRUE(contains(enter_error, "parent task")) << enter_error;
    EXPECT_TRUE(contains(create_error, "has not been entered")) << create_error;
  });
}

// ---- No child outlives the group ---------------------------------------------------------

// Children of every temperament; each records when its coroutine frame is destroyed (which
// happens when its task finishes).
struct Lifetimes {
  int started = 0;
  int ended = 0;
};

struct EndGuard {
  Lifetimes* life;
  ~EndGuard() { ++life->ended; }
};

Coro<> quick_child(Lifetimes* life) {
  ++life->started;
  EndGuard guard{life};
  co_await asyncio::sleep(1ms);
}

// Takes its time to clean up after a cancellation.
Coro<> slow_cleanup_child(Lifetimes* life) {
  ++life->started;
  EndGuard guard{life};
  std::exception_ptr e = co_await sleep_error(10s);
  if (e) {
    co_await asyncio::sleep(30ms);
    std::rethrow_exception(e);
  }
}

// Ignores cancellation until its time is up (Python's SlowTask).
Coro<> stubborn_child(Lifetimes* life) {
  ++life->started;
  EndGuard guard{life};
  const double end = asyncio::get_running_loop().time() + 0.05;
  while (asyncio::get_running_loop().time() < end) {
    co_await sleep_error(Duration(end - asyncio::get_running_loop().time()));
  }
}

Coro<> failing_cleanup_child(Lifetimes* life) {
  ++life->started;
  EndGuard guard{life};
  std::exception_ptr e = co_await sleep_error(10s);
  co_await asyncio::sleep(5ms);
  if (e) throw MyExc();
}

// A child running its own group of slow children.
Coro<> nested_group_child(Lifetimes* life) {
  ++life->started;
  EndGuard guard{life};
  co_await asyncio::task_group([life](TaskGroup& g) -> Coro<> {
    g.create_task(slow_cleanup_child(life));
    g.create_task(stubborn_child(life));
    co_await asyncio::sleep(10s);
  });
}

// Starts every kind of child in `g`; returns how many were started directly.
std::vector<asyncio::AnyTask> start_children(TaskGroup& g, Lifetimes* life) {
  std::vector<asyncio::AnyTask> tasks;
  tasks.push_back(g.create_task(quick_child(life)));
  tasks.push_back(g.create_task(slow_cleanup_child(life)));
  tasks.push_back(g.create_task(stubborn_child(life)));
  tasks.push_back(g.create_task(failing_cleanup_child(life)));
  tasks.push_back(g.create_task(nested_group_child(life)));
  return tasks;
}

constexpr int kChildFrames = 7;  // 5 children + 2 grandchildren

// The body throws: task_group() does not return (by exception) before every child, and every
// grandchild, has finished.
TEST(TaskGroup, NoChildOutlivesTheGroupWhenTheBodyThrows) {
  Lifetimes life;
  run_main([&]() -> Coro<> {
    std::vector<asyncio::AnyTask> tasks;
    std::exception_ptr err = co_await error_of(asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      tasks = start_children(g, &life);
      co_await asyncio::sleep(5ms);  // all started, the quick one done
      throw MyExc();
    }));
    // Right after the group: everything is over.
    EXPECT_EQ(life.started, kChildFrames);
    EXPECT_EQ(life.ended, kChildFrames);
    for (auto& t : tasks) EXPECT_TRUE(t.done());
    EXPECT_EQ(asyncio::all_tasks().size(), 1u);
    // The body's error and the child that failed while cancelled.
    EXPECT_EQ(error_types(err), (Kinds{"MyExc"})) << what_of(err);
    EXPECT_EQ(error_kinds_in_order(err).size(), 2u);
  });
}

// Same when the body throws before any child has even started.
TEST(TaskGroup, NoChildOutlivesTheGroupWhenTheBodyThrowsAtOnce) {
  Lifetimes life;
  run_main([&]() -> Coro<> {
    std::vector<asyncio::AnyTask> tasks;
    std::exception_ptr err = co_await error_of(asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      tasks = start_children(g, &life);
      throw MyExc();
      co_return;
    }));
    EXPECT_EQ(life.ended, life.started);  // cancelled before starting: no frame ran at all
    for (auto& t : tasks) EXPECT_TRUE(t.done() && t.cancelled());
    EXPECT_EQ(asyncio::all_tasks().size(), 1u);
    EXPECT_EQ(error_kinds_in_order(err), (std::vector<std::string>{"MyExc"})) << what_of(err);
  });
}

// The body returns normally and the task running the group is cancelled, repeatedly, while
// the group waits for its children: still no child outlives it.
TEST(TaskGroup, NoChildOutlivesTheGroupWhenCancelledRepeatedly) {
  Lifetimes life;
  run_main([&]() -> Coro<> {
    std::vector<asyncio::AnyTask> tasks;
    bool all_over_at_exit = false;
    auto runner = [&]() -> Coro<> {
      std::exception_ptr err = co_await error_of(asyncio::task_group([&](TaskGroup& g) -> Coro<> {
        tasks = start_children(g, &life);
        co_return;
      }));
      all_over_at_exit = life.ended == kChildFrames;
      for (auto& t : tasks) all_over_at_exit = all_over_at_exit && t.done();
      if (err) std::rethrow_exception(err);
    };
    Task<void> r = asyncio::create_task(runner());
    for (int i = 0; i < 3; ++i) {
      co_await asyncio::sleep(2ms);
      r.cancel();
    }
    std::exception_ptr err = co_await error_of(r);
    EXPECT_TRUE(all_over_at_exit);
    EXPECT_EQ(life.started, kChildFrames);
    EXPECT_EQ(life.ended, kChildFrames);
    // failing_cleanup_child's MyExc has priority over the cancellation.
    EXPECT_EQ(error_types(err), Kinds{"MyExc"}) << what_of(err);
    EXPECT_EQ(r.cancelling(), 3);
    EXPECT_EQ(asyncio::all_tasks().size(), 1u);
  });
}

// And when everything goes well.
TEST(TaskGroup, NoChildOutlivesTheGroupOnNormalExit) {
  Lifetimes life;
  run_main([&]() -> Coro<> {
    std::vector<asyncio::AnyTask> tasks;
    co_await asyncio::task_group([&](TaskGroup& g) -> Coro<> {
      for (int i = 0; i < 3; ++i) tasks.push_back(g.create_task(quick_child(&life)));
      tasks.push_back(g.create_task(stubborn_child(&life)));
      co_return;
    });
    EXPECT_EQ(life.started, 4);
    EXPECT_EQ(life.ended, 4);
    for (auto& t : tasks) EXPECT_TRUE(t.done() && !t.cancelled());
  });
}

// ---- The loop closes while a task waits here -------------------------------------------------

TEST(TaskGroup, LoopClosedWhileTheGroupRuns) {
  Lifetimes life;
  auto reports = close_loop_while_pending([&](asyncio::EventLoop& loop) {
    Task<void> t = loop.create_task(asyncio::task_group([&life](TaskGroup& g) -> Coro<> {
      g.create_task(slow_cleanup_child(&life));
      g.create_task(nested_group_child(&life));
      co_await asyncio::sleep(10s);
    }));
    loop.run_until_complete(nap(5ms));
    EXPECT_FALSE(t.done());
  });
  EXPECT_EQ(life.started, 4);
  EXPECT_EQ(life.ended, 4);  // every frame destroyed
  // The group's task, its two children and the two grandchildren.
  EXPECT_EQ(count_of(reports, "Task was destroyed but it is pending!"), 5u);
}

}  // namespace
