// operator<< and asyncio::repr() (asyncio/repr.hpp): the texts of Python 3.12's repr() for the
// same objects, as CPython 3.12.1 prints them (quoted next to each check), minus what C++ does
// not know (coroutine names and source lines, callback names, object addresses).
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "asyncio/asyncio.hpp"

using namespace std::chrono_literals;

namespace {

using asyncio::Coro;
using asyncio::EventLoop;

Coro<> nap(asyncio::Duration d) {
  co_await asyncio::sleep(d);
}

Coro<int> get_one(asyncio::Queue<int>& q) {
  co_return co_await q.get();
}

template <class T>
std::string str(const T& v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

TEST(ReprTest, Futures) {
  EventLoop loop;
  auto f = loop.create_future<std::string>();
  EXPECT_EQ(str(f), "<Future pending>");
  f.set_result(std::string(50, 'x'));  // reprlib shortens long strings
  EXPECT_EQ(str(f), "<Future finished result='xxxxxxxxxxxx...xxxxxxxxxxxxx'>");
  auto e = loop.create_future<int>();
  e.set_exception(asyncio::ValueError("bad"));
  EXPECT_EQ(str(e), "<Future finished exception=ValueError('bad')>");
  (void)e.exception();
  auto c = loop.create_future<int>();
  c.cancel();
  EXPECT_EQ(str(c), "<Future cancelled>");
  auto v = loop.create_future<void>();
  v.set_result();
  EXPECT_EQ(str(v), "<Future finished result=None>");
  auto b = loop.create_future<bool>();
  b.set_result(true);
  EXPECT_EQ(str(b), "<Future finished result=True>");
  auto d = loop.create_future<double>();
  d.set_result(2.5);
  EXPECT_EQ(str(d), "<Future finished result=2.5>");
  auto d3 = loop.create_future<double>();
  d3.set_result(3.0);
  EXPECT_EQ(str(d3), "<Future finished result=3.0>");
  auto i = loop.create_future<int>();
  i.set_result(3);
  EXPECT_EQ(str(i), "<Future finished result=3>");
}

TEST(ReprTest, Tasks) {
  asyncio::run([]() -> Coro<> {
    auto t = asyncio::create_task([]() -> Coro<int> { co_return 3; }(), "t1");
    EXPECT_EQ(str(t), "<Task pending name='t1'>");
    co_await t;
    EXPECT_EQ(str(t), "<Task finished name='t1' result=3>");
    auto s = asyncio::create_task(nap(1s));
    co_await asyncio::sleep(0s);
    s.cancel();
    EXPECT_EQ(str(s), "<Task cancelling name='" + s.get_name() + "'>");
    try {
      co_await s;
    } catch (const asyncio::CancelledError&) {
    }
    EXPECT_EQ(str(s), "<Task cancelled name='" + s.get_name() + "'>");
    asyncio::AnyTask any = s;
    EXPECT_EQ(str(any), "<Task cancelled name='" + s.get_name() + "'>");
    auto f = asyncio::create_task(
        []() -> Coro<> {
          throw asyncio::RuntimeError("boom");
          co_return;
        }(),
        "f");
    try {
      co_await f;
    } catch (const asyncio::RuntimeError&) {
    }
    EXPECT_EQ(str(f), "<Task finished name='f' exception=RuntimeError('boom')>");
  }());
}

// <Handle cancelled>; <TimerHandle when=12.5 cb()>; <TimerHandle cancelled when=12.5>.
TEST(ReprTest, Handles) {
  EventLoop loop;
  auto h = loop.call_soon([] {});
  EXPECT_EQ(str(h), "<Handle>");
  h.cancel();
  EXPECT_EQ(str(h), "<Handle cancelled>");
  auto t = loop.call_at(12.5, [] {});
  EXPECT_EQ(str(t), "<TimerHandle when=12.5>");
  t.cancel();
  EXPECT_EQ(str(t), "<TimerHandle cancelled when=12.5>");
}

// str(q): <Queue maxsize=2>, <Queue maxsize=2 _queue=[1, 2] tasks=2>,
// <Queue maxsize=0 _getters[1]>.
TEST(ReprTest, Queues) {
  asyncio::run([]() -> Coro<> {
    asyncio::Queue<int> q(2);
    EXPECT_EQ(str(q), "<Queue maxsize=2>");
    q.put_nowait(1);
    q.put_nowait(2);
    EXPECT_EQ(str(q), "<Queue maxsize=2 _queue=[1, 2] tasks=2>");
    asyncio::LifoQueue<std::string> l;
    l.put_nowait("a");
    l.put_nowait("b");
    EXPECT_EQ(str(l), "<LifoQueue maxsize=0 _queue=['a', 'b'] tasks=2>");
    asyncio::Queue<int> empty;
    auto g = asyncio::create_task(get_one(empty));
    co_await asyncio::sleep(0s);
    EXPECT_EQ(str(empty), "<Queue maxsize=0 _getters[1]>");
    g.cancel();
    try {
      co_await g;
    } catch (const asyncio::CancelledError&) {
    }
  }());
}

TEST(ReprTest, SyncPrimitives) {
  asyncio::Lock lock;
  EXPECT_EQ(str(lock), "<asyncio::Lock [unlocked]>");
  asyncio::Event event;
  EXPECT_EQ(str(event), "<asyncio::Event [unset]>");
  asyncio::Semaphore sem(2);
  EXPECT_EQ(str(sem), "<asyncio::Semaphore [unlocked, value:2]>");
  EXPECT_EQ(str(sem), sem.repr());
}

// repr(exc) for the library's exceptions and std ones.
TEST(ReprTest, Exceptions) {
  EXPECT_EQ(str(asyncio::ValueError("x")), "ValueError('x')");
  EXPECT_EQ(str(asyncio::ValueError("it's")), "ValueError(\"it's\")");
  EXPECT_EQ(str(asyncio::ValueError("a\"b'c\n\t\x01")), "ValueError('a\"b\\'c\\n\\t\\x01')");
  EXPECT_EQ(str(asyncio::CancelledError()), "CancelledError()");
  EXPECT_EQ(str(asyncio::CancelledError("m")), "CancelledError('m')");
  EXPECT_EQ(str(asyncio::ConnectionResetError(std::string("Connection lost"))),
            "ConnectionResetError('Connection lost')");
  EXPECT_EQ(str(asyncio::FileNotFoundError(2, "No such file or directory", "x")),
            "FileNotFoundError(2, 'No such file or directory')");
  EXPECT_EQ(str(asyncio::IncompleteReadError("abc", 5)),
            "IncompleteReadError('3 bytes read on a total of 5 expected bytes')");
  EXPECT_EQ(str(asyncio::LimitOverrunError("m", 3)), "LimitOverrunError('m')");
  EXPECT_EQ(str(asyncio::QueueEmpty()), "QueueEmpty()");
  asyncio::ExceptionGroup eg("eg", {std::make_exception_ptr(asyncio::ValueError("x")),
                                    std::make_exception_ptr(asyncio::RuntimeError("k"))});
  EXPECT_EQ(str(eg), "ExceptionGroup('eg', [ValueError('x'), RuntimeError('k')])");
  // Through a base reference, the dynamic type is printed.
  const std::exception& base = eg;
  EXPECT_EQ(asyncio::detail::exception_repr(base),
            "ExceptionGroup('eg', [ValueError('x'), RuntimeError('k')])");
  EXPECT_EQ(asyncio::repr(std::make_exception_ptr(asyncio::CancelledError())), "CancelledError()");
  EXPECT_EQ(asyncio::repr(std::exception_ptr()), "None");
  EXPECT_EQ(asyncio::repr(std::make_exception_ptr(std::runtime_error("r"))),
            "std::runtime_error('r')");
}

}  // namespace
