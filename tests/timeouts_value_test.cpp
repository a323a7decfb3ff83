// Tests of the value form of timeout()/timeout_at(): a Timeout used with async_with() and read
// after the block (Python: `async with asyncio.timeout(d) as cm: ...` then `cm.expired()`).
// The scope-function forms are covered by timeouts_test.cpp.
//
// Expected results are those of the Python programs quoted in each test under CPython 3.12.1.
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
using asyncio::Timeout;
using asyncio::TimeoutError;

// async with asyncio.timeout(0.01) as cm: pass
// print("expired", cm.expired(), cm.when() is not None)           # expired False True
// try:
//     async with asyncio.timeout(0.01) as cm: await asyncio.sleep(1)
// except TimeoutError as e: print("timeout", repr(e), cm.expired())  # timeout TimeoutError() True
TEST(TimeoutsValue, ExpiredCanBeReadAfterTheBlock) {
  run_main([&]() -> Coro<> {
    const double before = asyncio::get_running_loop().time();
    auto cm = asyncio::timeout(10ms);
    EXPECT_GE(cm.when().value_or(0), before + 0.01);
    Timeout* seen = nullptr;
    int r = co_await asyncio::async_with(cm, [&](Timeout& t) -> Coro<int> {
      seen = &t;
      co_return 3;  // aexit never suppresses: the result is not an optional
    });
    EXPECT_EQ(r, 3);
    EXPECT_EQ(seen, &cm);  // `as cm` is the Timeout itself
    EXPECT_FALSE(cm.expired());
    EXPECT_TRUE(cm.when().has_value());

    auto cm2 = asyncio::timeout(10ms);
    auto err = co_await error_of(
        asyncio::async_with(cm2, [&]() -> Coro<> { co_await asyncio::sleep(1s); }));
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_TRUE(cm2.expired());
    EXPECT_EQ(asyncio::current_task().cancelling(), 0);
  });
}

// cm = asyncio.timeout(None)
// async with cm:
//     cm.reschedule(asyncio.get_running_loop().time() + 0.01)
//     try: await asyncio.sleep(1)
//     except asyncio.CancelledError: print("inner cancelled")
// print("swallowed", cm.expired())                  # swallowed True
// cm.reschedule(None)   -> RuntimeError('Cannot change state of expired Timeout')
// async with cm: pass   -> RuntimeError('Timeout has already been entered')
TEST(TimeoutsValue, SwallowedExpiryIsStillVisibleAfterwards) {
  std::vector<std::string> log;
  run_main([&]() -> Coro<> {
    auto cm = asyncio::timeout(std::nullopt);
    EXPECT_FALSE(cm.when().has_value());
    co_await asyncio::async_with(cm, [&]() -> Coro<> {
      cm.reschedule(asyncio::get_running_loop().time() + 0.01);
      try {
        co_await asyncio::sleep(1s);
      } catch (const CancelledError&) {
        log.push_back("inner cancelled");
      }
    });
    log.push_back(std::string("swallowed ") + (cm.expired() ? "True" : "False"));
    try {
      cm.reschedule(std::nullopt);
    } catch (const asyncio::RuntimeError& e) {
      log.push_back(e.what());
    }
    auto err = co_await error_of(asyncio::async_with(cm, [&]() -> Coro<> { co_return; }));
    log.push_back(what_of(err));
  });
  EXPECT_EQ(log, (std::vector<std::string>{"inner cancelled", "swallowed True",
                                           "Cannot change state of expired Timeout",
                                           "Timeout has already been entered"}));
}

// async with asyncio.timeout(10) as outer:
//     try:
//         async with asyncio.timeout(0.01) as inner: await asyncio.sleep(1)
//     except TimeoutError: print("inner timeout", inner.expired(), outer.expired())
// print("outer", outer.expired())                   # inner timeout True False / outer False
TEST(TimeoutsValue, NestedValueTimeouts) {
  std::vector<std::string> log;
  run_main([&]() -> Coro<> {
    auto outer = asyncio::timeout(10s);
    co_await asyncio::async_with(outer, [&]() -> Coro<> {
      auto inner = asyncio::timeout(10ms);
      auto err = co_await error_of(
          asyncio::async_with(inner, [&]() -> Coro<> { co_await asyncio::sleep(1s); }));
      if (holds<TimeoutError>(err)) {
        log.push_back(std::string("inner timeout ") + (inner.expired() ? "True" : "False") + " " +
                      (outer.expired() ? "True" : "False"));
      }
    });
    log.push_back(std::string("outer ") + (outer.expired() ? "True" : "False"));
  });
  EXPECT_EQ(log, (std::vector<std::string>{"inner timeout True False", "outer False"}));
}

// cm = asyncio.timeout(10)
// async def body():
//     async with cm: await asyncio.sleep(1)
// t = create_task(body()); await asyncio.sleep(0.01); t.cancel()
// try: await t
// except asyncio.CancelledError: print("cancelled", cm.expired())     # cancelled False
TEST(TimeoutsValue, OutsideCancellationIsNotAnExpiry) {
  run_main([&]() -> Coro<> {
    auto cm = asyncio::timeout(10s);
    auto t = asyncio::create_task(
        asyncio::async_with(cm, [&]() -> Coro<> { co_await asyncio::sleep(1s); }));
    co_await asyncio::sleep(10ms);
    t.cancel();
    auto err = co_await error_of(t);
    EXPECT_TRUE(holds<CancelledError>(err)) << what_of(err);
    EXPECT_FALSE(cm.expired());
  });
}

// cm = asyncio.timeout(0.01)
// async with cm:
//     cm.reschedule(None); await asyncio.sleep(0.03)
// print("rescheduled", cm.expired(), cm.when())     # rescheduled False None
// cm = asyncio.timeout_at(loop.time() - 1)
// try:
//     async with cm: await asyncio.sleep(1)
// except TimeoutError: print("past deadline", cm.expired())          # past deadline True
TEST(TimeoutsValue, RescheduleInsideAndTimeoutAt) {
  run_main([&]() -> Coro<> {
    auto cm = asyncio::timeout(10ms);
    co_await asyncio::async_with(cm, [&]() -> Coro<> {
      cm.reschedule(std::nullopt);
      co_await asyncio::sleep(30ms);
    });
    EXPECT_FALSE(cm.expired());
    EXPECT_FALSE(cm.when().has_value());

    auto at = asyncio::timeout_at(asyncio::get_running_loop().time() - 1);
    auto err = co_await error_of(
        asyncio::async_with(at, [&]() -> Coro<> { co_await asyncio::sleep(1s); }));
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
    EXPECT_TRUE(at.expired());

    // A temporary Timeout in the statement itself (`async with asyncio.timeout(d):`).
    err = co_await error_of(asyncio::async_with(asyncio::timeout(10ms),
                                                [&]() -> Coro<> { co_await asyncio::sleep(1s); }));
    EXPECT_TRUE(holds<TimeoutError>(err)) << what_of(err);
  });
}

// cm = asyncio.timeout(1); cm.reschedule(1.0)  -> RuntimeError('Timeout has not been entered')
// async with asyncio.timeout(None) as cm: pass
// print(cm.when(), cm.expired())                # None False
// cm.reschedule(None) -> RuntimeError('Cannot change state of finished Timeout')
TEST(TimeoutsValue, StateRulesBeforeAndAfterTheBlock) {
  std::vector<std::string> log;
  run_main([&]() -> Coro<> {
    auto cm = asyncio::timeout(1s);
    try {
      cm.reschedule(1.0);
    } catch (const asyncio::RuntimeError& e) {
      log.push_back(e.what());
    }
    EXPECT_FALSE(cm.expired());
    auto none = asyncio::timeout(std::nullopt);
    co_await asyncio::async_with(none, [&]() -> Coro<> { co_return; });
    EXPECT_FALSE(none.when().has_value());
    EXPECT_FALSE(none.expired());
    try {
      none.reschedule(std::nullopt);
    } catch (const asyncio::RuntimeError& e) {
      log.push_back(e.what());
    }
  });
  EXPECT_EQ(log, (std::vector<std::string>{"Timeout has not been entered",
                                           "Cannot change state of finished Timeout"}));
}

// asyncio.timeout(1) and asyncio.timeout(None) outside a loop: RuntimeError('no running event
// loop'); asyncio.timeout_at(5).when() == 5 needs no loop.
TEST(TimeoutsValue, TimeoutNeedsARunningLoopTimeoutAtDoesNot) {
  try {
    (void)asyncio::timeout(1s);
    ADD_FAILURE() << "no error";
  } catch (const asyncio::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "no running event loop");
  }
  try {
    (void)asyncio::timeout(std::nullopt);
    ADD_FAILURE() << "no error";
  } catch (const asyncio::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "no running event loop");
  }
  EXPECT_EQ(asyncio::timeout_at(5.0).when(), 5.0);
}

}  // namespace
