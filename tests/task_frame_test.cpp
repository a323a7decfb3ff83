// The task state inside the coroutine frame's block (include/asyncio/detail/task_frame.hpp):
// one allocation per task, and every lifetime rule of a task kept. The block is freed only
// when both the frame is gone and the last reference to the task state is; the frame itself
// (the coroutine's arguments) still goes when the task finishes, as Python drops a finished
// coroutine's frame. Run under ASan (preset asan), these also check that no block leaks or is
// used after it was freed.

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/asyncio.hpp"

using namespace std::chrono_literals;
using asyncio::CancelledError;
using asyncio::Coro;
using asyncio::EventLoop;
using asyncio::Task;

namespace {

Coro<long> hold(std::shared_ptr<int> p, long v) {
  co_await asyncio::sleep(0s);
  co_return v + *p;
}

Coro<std::string> text(std::shared_ptr<int> p) {
  co_await asyncio::sleep(0s);
  co_return "value " + std::to_string(*p) + std::string(40, 'x');
}

Coro<> fail(std::shared_ptr<int>) {
  co_await asyncio::sleep(0s);
  throw asyncio::ValueError("boom");
}

Coro<> forever() {
  co_await asyncio::sleep(3600s);
}

}  // namespace

// The frame (and so the coroutine's arguments) is destroyed when the task finishes, while a
// Task handle keeps the task state (in the same block) and its result readable.
TEST(TaskFrameTest, ArgumentsReleasedAtFinishResultKeptByHandle) {
  EventLoop loop;
  auto arg = std::make_shared<int>(2);
  Task<long> task;
  loop.run_until_complete([&]() -> Coro<> {
    task = asyncio::create_task(hold(arg, 40));
    EXPECT_EQ(arg.use_count(), 2);  // the frame holds a copy
    co_await task;
  }());
  EXPECT_EQ(arg.use_count(), 1);  // frame gone, task state alive
  ASSERT_TRUE(task.done());
  // Spawn more tasks: were the block freed with the frame, they would reuse it.
  loop.run_until_complete([&]() -> Coro<> {
    std::vector<Task<long>> more;
    for (int i = 0; i < 64; ++i) more.push_back(asyncio::create_task(hold(arg, i)));
    for (auto& t : more) co_await t;
  }());
  EXPECT_EQ(task.result(), 42);
  EXPECT_EQ(task.get_name().rfind("Task-", 0), 0u);
  loop.close();
}

// A result too large for the prefix takes the two-allocation path: same behaviour.
TEST(TaskFrameTest, LargeResultTakesSeparateState) {
  EventLoop loop;
  auto arg = std::make_shared<int>(7);
  Task<std::string> task;
  loop.run_until_complete([&]() -> Coro<> {
    task = asyncio::create_task(text(arg), "named");
    co_await task;
  }());
  EXPECT_EQ(arg.use_count(), 1);
  EXPECT_EQ(task.result(), "value 7" + std::string(40, 'x'));
  EXPECT_EQ(task.get_name(), "named");
  loop.close();
}

// Exceptions, cancellation and done callbacks, with handles outliving the frames.
TEST(TaskFrameTest, ExceptionCancellationAndCallbacksOutliveFrame) {
  EventLoop loop;
  auto arg = std::make_shared<int>(1);
  Task<> failed;
  Task<> cancelled;
  int callbacks = 0;
  loop.run_until_complete([&]() -> Coro<> {
    failed = asyncio::create_task(fail(arg));
    cancelled = asyncio::create_task(forever());
    failed.add_done_callback([&](Task<>&) { ++callbacks; });
    cancelled.add_done_callback([&](Task<>& t) { callbacks += t.cancelled() ? 10 : 0; });
    co_await asyncio::sleep(0s);
    cancelled.cancel("stop");
    try {
      co_await cancelled;
      ADD_FAILURE() << "not cancelled";
    } catch (const CancelledError& e) {
      EXPECT_EQ(std::string(e.what()), "stop");
    }
    try {
      co_await failed;
      ADD_FAILURE() << "no exception";
    } catch (const asyncio::ValueError& e) {
      EXPECT_EQ(std::string(e.what()), "boom");
    }
    co_await asyncio::sleep(0s);  // the done callbacks run
  }());
  EXPECT_EQ(callbacks, 11);
  EXPECT_EQ(arg.use_count(), 1);
  EXPECT_TRUE(cancelled.cancelled());
  EXPECT_THROW(failed.result(), asyncio::ValueError);
  loop.close();
}

// Fire and forget: the loop's reference is the last one; the block goes when the task ends.
// A task still pending when the loop closes is destroyed with it (frame and block).
TEST(TaskFrameTest, FireAndForgetAndPendingAtClose) {
  EventLoop loop;
  auto arg = std::make_shared<int>(3);
  std::vector<std::string> reports;
  loop.set_exception_handler(
      [&](EventLoop&, const asyncio::ExceptionContext& c) { reports.push_back(c.message); });
  loop.run_until_complete([&]() -> Coro<> {
    (void)asyncio::create_task(hold(arg, 1));
    (void)asyncio::create_task(
        [](std::shared_ptr<int>) -> Coro<> { co_await asyncio::sleep(3600s); }(arg));
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
  }());
  EXPECT_EQ(arg.use_count(), 2);  // the pending task's frame
  loop.close();
  EXPECT_EQ(arg.use_count(), 1);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0], "Task was destroyed but it is pending!");
}

// A coroutine that never becomes a task frees its block itself, run or not; one that a closed
// loop refuses is freed too.
TEST(TaskFrameTest, FramesThatNeverBecomeTasks) {
  auto arg = std::make_shared<int>(5);
  EventLoop loop;
  loop.run_until_complete([&]() -> Coro<> {
    long v = co_await hold(arg, 1);
    EXPECT_EQ(v, 6);
  }());
  {
    Coro<long> unused = hold(arg, 3);
    asyncio::detail::CoroAccess::mute_never_awaited(unused);
  }
  EXPECT_EQ(arg.use_count(), 1);
  loop.close();
  EXPECT_THROW((void)loop.create_task(hold(arg, 4)), asyncio::RuntimeError);
  EXPECT_EQ(arg.use_count(), 1);
}

// Eager tasks (and so task factories) construct the state in the frame's block too.
TEST(TaskFrameTest, EagerTaskFinishingInFirstStep) {
  EventLoop loop;
  loop.set_task_factory(asyncio::eager_task_factory);
  auto arg = std::make_shared<int>(1);
  loop.run_until_complete([&]() -> Coro<> {
    auto done =
        asyncio::create_task([](std::shared_ptr<int> p) -> Coro<long> { co_return *p + 1; }(arg));
    EXPECT_TRUE(done.done());
    EXPECT_EQ(arg.use_count(), 1);
    auto later = asyncio::create_task(hold(arg, 10), "eager");
    EXPECT_FALSE(later.done());
    EXPECT_EQ(later.get_name(), "eager");
    EXPECT_EQ(co_await later, 11);
    EXPECT_EQ(done.result(), 2);
  }());
  loop.close();
}
