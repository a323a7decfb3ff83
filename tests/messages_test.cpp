// Exact CPython 3.12 texts (issue 10, item 12). Each expected string is what CPython 3.12.1
// prints for the same operation (checked with `PYENV_VERSION=3.12.1 python3.12`; the Python
// line is quoted next to each check).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <gtest/gtest.h>

#include "asyncio/asyncio.hpp"
#include "net_helpers.hpp"

using namespace std::chrono_literals;

namespace {

using asyncio::CancelledError;
using asyncio::Coro;
using asyncio::EventLoop;
using asyncio::InvalidStateError;

Coro<> nap(asyncio::Duration d) {
  co_await asyncio::sleep(d);
}

template <class E, class F>
std::string what_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "<no exception>";
}

// fut.set_result(1); fut.set_result(2) -> InvalidStateError('invalid state'), and the same for
// set_exception, and for a cancelled future (the C Future has one text for every state).
TEST(MessagesTest, SecondSetResultIsInvalidState) {
  EventLoop loop;
  auto f = loop.create_future<int>();
  f.set_result(1);
  EXPECT_EQ(what_of<InvalidStateError>([&] { f.set_result(2); }), "invalid state");
  EXPECT_EQ(what_of<InvalidStateError>([&] { f.set_exception(asyncio::ValueError("x")); }),
            "invalid state");
  auto c = loop.create_future<void>();
  c.cancel();
  EXPECT_EQ(what_of<InvalidStateError>([&] { c.set_result(); }), "invalid state");
  EXPECT_EQ(what_of<InvalidStateError>([&] { c.set_exception(asyncio::ValueError("x")); }),
            "invalid state");
}

// fut.result() / fut.exception() while pending -> 'Result is not set.' / 'Exception is not
// set.'; the same for a pending task.
TEST(MessagesTest, ResultOfPendingFutureAndTask) {
  asyncio::run([]() -> Coro<> {
    auto f = asyncio::get_running_loop().create_future<int>();
    EXPECT_EQ(what_of<InvalidStateError>([&] { (void)f.result(); }), "Result is not set.");
    EXPECT_EQ(what_of<InvalidStateError>([&] { (void)f.exception(); }), "Exception is not set.");
    auto t = asyncio::create_task(nap(1s));
    EXPECT_EQ(what_of<InvalidStateError>([&] { t.result(); }), "Result is not set.");
    EXPECT_EQ(what_of<InvalidStateError>([&] { (void)t.exception(); }), "Exception is not set.");
    t.cancel();
    try {
      co_await t;
    } catch (const CancelledError&) {
    }
  }());
}

// q.get_nowait() on an empty queue -> QueueEmpty(), str() ''; q.put_nowait() on a full one ->
// QueueFull(), str() ''.
TEST(MessagesTest, QueueEmptyAndFullCarryNoMessage) {
  asyncio::run([]() -> Coro<> {
    asyncio::Queue<int> q(1);
    EXPECT_EQ(what_of<asyncio::QueueEmpty>([&] { q.get_nowait(); }), "");
    q.put_nowait(1);
    EXPECT_EQ(what_of<asyncio::QueueFull>([&] { q.put_nowait(2); }), "");
    co_return;
  }());
}

// asyncio.current_task() with no running loop -> RuntimeError('no running event loop').
TEST(MessagesTest, CurrentTaskWithoutLoop) {
  EXPECT_EQ(what_of<asyncio::RuntimeError>([] { (void)asyncio::current_task(); }),
            "no running event loop");
}

// await reader.readexactly(-1) -> ValueError('readexactly size can not be less than zero'),
// even when the reader holds an exception (the size is checked first).
TEST(MessagesTest, ReadexactlyNegative) {
  asyncio::run([]() -> Coro<> {
    asyncio::StreamReader r;
    std::string msg;
    try {
      (void)co_await r.readexactly(-1);
    } catch (const asyncio::ValueError& e) {
      msg = e.what();
    }
    EXPECT_EQ(msg, "readexactly size can not be less than zero");
    r.set_exception(std::make_exception_ptr(asyncio::RuntimeError("broken")));
    msg.clear();
    try {
      (void)co_await r.readexactly(-5);
    } catch (const asyncio::ValueError& e) {
      msg = e.what();
    }
    EXPECT_EQ(msg, "readexactly size can not be less than zero");
  }());
}

// gather(t, return_exceptions=True) with t cancelled by t.cancel('msg') gives
// CancelledError('') in 3.12 (the task keeps no _cancel_message), while a plain future
// cancelled with fut.cancel('fm') gives CancelledError('fm'). Without return_exceptions the
// gather propagates the child's CancelledError('m3') with its message.
TEST(MessagesTest, GatherReturnExceptionsLosesTaskCancelMessage) {
  asyncio::run([]() -> Coro<> {
    auto& loop = asyncio::get_running_loop();
    auto t = asyncio::create_task(nap(1s));
    loop.call_soon([t] { t.cancel("msg"); });
    auto [rt] = co_await asyncio::gather(asyncio::return_exceptions, t);
    try {
      std::rethrow_exception(rt.exception());
    } catch (const CancelledError& e) {
      EXPECT_EQ(e.message(), "");
    }
    auto f = loop.create_future<int>();
    loop.call_soon([f] { f.cancel("fm"); });
    auto [rf] = co_await asyncio::gather(asyncio::return_exceptions, f);
    try {
      std::rethrow_exception(rf.exception());
    } catch (const CancelledError& e) {
      EXPECT_EQ(e.message(), "fm");
    }
    auto t3 = asyncio::create_task(nap(1s));
    loop.call_soon([t3] { t3.cancel("m3"); });
    std::string propagated = "<none>";
    try {
      co_await asyncio::gather(t3);
    } catch (const CancelledError& e) {
      propagated = e.message();
    }
    EXPECT_EQ(propagated, "m3");
  }());
}

// ---- The OSError family: what() is Python's str(exc) for the same constructor form ----------

// ConnectionResetError('Connection lost') -> 'Connection lost' (errno None);
// ConnectionResetError(104, 'Connection reset by peer') -> '[Errno 104] Connection reset by peer';
// OSError(2, 'No such file or directory', 'x') -> "[Errno 2] No such file or directory: 'x'".
TEST(MessagesTest, OSErrorConstructorForms) {
  asyncio::ConnectionResetError lost(std::string("Connection lost"));
  EXPECT_STREQ(lost.what(), "Connection lost");
  EXPECT_EQ(lost.error_number(), 0);
  EXPECT_TRUE(lost.message_only());
  EXPECT_EQ(lost.strerror(), "");

  asyncio::ConnectionResetError reset(ECONNRESET, "Connection reset by peer");
  EXPECT_STREQ(reset.what(), "[Errno 104] Connection reset by peer");
  EXPECT_EQ(reset.error_number(), ECONNRESET);
  EXPECT_EQ(reset.code(), std::errc::connection_reset);
  EXPECT_EQ(reset.strerror(), "Connection reset by peer");

  asyncio::FileNotFoundError named(ENOENT, "No such file or directory", "x");
  EXPECT_STREQ(named.what(), "[Errno 2] No such file or directory: 'x'");
  EXPECT_EQ(named.filename(), "x");

  // make_os_error(errno): Python's OSError(errno, os.strerror(errno)), most specific subclass.
  try {
    std::rethrow_exception(asyncio::make_os_error(ECONNRESET));
  } catch (const asyncio::ConnectionResetError& e) {
    EXPECT_STREQ(e.what(), "[Errno 104] Connection reset by peer");
  }
  // A copy keeps the text (it is shared, so copying cannot throw).
  asyncio::OSError copy = reset;
  EXPECT_STREQ(copy.what(), "[Errno 104] Connection reset by peer");
}

// A refused connection: "[Errno 111] Connect call failed ('127.0.0.1', PORT)".
TEST(MessagesTest, ConnectRefused) {
  nettest::run([]() -> Coro<> {
    asyncio::Socket probe = asyncio::Socket::create(AF_INET, SOCK_STREAM);
    probe.bind(asyncio::SockAddr::inet("127.0.0.1", 0));
    const auto port = probe.getsockname().port();
    probe.close();
    std::string msg;
    try {
      co_await asyncio::open_connection("127.0.0.1", port);
    } catch (const asyncio::ConnectionRefusedError& e) {
      msg = e.what();
    }
    EXPECT_EQ(msg, "[Errno 111] Connect call failed ('127.0.0.1', " + std::to_string(port) + ")");
  }());
}

// drain() once the connection is gone: ConnectionResetError('Connection lost'); a read when the
// peer resets the connection: ConnectionResetError(104, 'Connection reset by peer').
TEST(MessagesTest, ConnectionLostAndReset) {
  nettest::run([]() -> Coro<> {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listener, 4), 0);
    EXPECT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    const auto port = ntohs(addr.sin_port);

    auto [r1, w1] = co_await asyncio::open_connection("127.0.0.1", port);
    w1.close();
    co_await w1.wait_closed();
    std::string lost;
    try {
      co_await w1.drain();
    } catch (const asyncio::ConnectionResetError& e) {
      lost = e.what();
      EXPECT_EQ(e.error_number(), 0);  // Python: errno is None
    }
    EXPECT_EQ(lost, "Connection lost");

    auto [r2, w2] = co_await asyncio::open_connection("127.0.0.1", port);
    // Accept both queued connections; a zero linger makes close() send RST.
    for (int i = 0; i < 2; ++i) {
      const int conn = ::accept(listener, nullptr, nullptr);
      linger lg{1, 0};
      ::setsockopt(conn, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      ::close(conn);
    }
    std::string reset;
    try {
      (void)co_await r2.read(10);
    } catch (const asyncio::ConnectionResetError& e) {
      reset = e.what();
      EXPECT_EQ(e.error_number(), ECONNRESET);
    }
    EXPECT_EQ(reset, "[Errno 104] Connection reset by peer");
    w2.close();
    ::close(listener);
  }());
}

// create_subprocess_exec of a missing program or in a missing directory:
// "[Errno 2] No such file or directory: 'nonexistent-prog-xyz'" / ": '/nonexistent-dir'";
// send_signal() after the process was reaped: ProcessLookupError() with str() ''.
TEST(MessagesTest, SubprocessErrors) {
  nettest::run([]() -> Coro<> {
    std::string missing;
    try {
      co_await asyncio::create_subprocess_exec("nonexistent-prog-xyz", {});
    } catch (const asyncio::FileNotFoundError& e) {
      missing = e.what();
    }
    EXPECT_EQ(missing, "[Errno 2] No such file or directory: 'nonexistent-prog-xyz'");
    std::string nodir;
    try {
      co_await asyncio::create_subprocess_exec("true", {}, {.cwd = "/nonexistent-dir"});
    } catch (const asyncio::FileNotFoundError& e) {
      nodir = e.what();
    }
    EXPECT_EQ(nodir, "[Errno 2] No such file or directory: '/nonexistent-dir'");
    auto p = co_await asyncio::create_subprocess_exec("true", {});
    co_await p.wait();
    std::string gone = "<none>";
    try {
      p.send_signal(SIGTERM);
    } catch (const asyncio::ProcessLookupError& e) {
      gone = e.what();
    }
    EXPECT_EQ(gone, "");
  }());
}

}  // namespace
