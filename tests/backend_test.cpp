// Choosing the loop's backend (Backend, ASYNCIO_BACKEND), the fallback from io_uring to epoll
// where the kernel refuses io_uring, and readiness semantics that must be the same on both
// backends (the whole suite also runs a second time with ASYNCIO_BACKEND=io_uring in CI).

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>

#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "asyncio/asyncio.hpp"

using namespace std::chrono_literals;

namespace {

/// Whether this machine lets us make an io_uring at all (sysctl, container policy).
bool uring_allowed() {
  std::ifstream f("/proc/sys/kernel/io_uring_disabled");
  int v = 0;
  if (f >> v && v != 0) return false;
  asyncio::EventLoop loop(asyncio::Backend::io_uring);
  return std::string(loop.backend_name()) == "io_uring";
}

/// Sets an environment variable for one scope.
struct ScopedEnv {
  std::string name;
  std::string old;
  bool had;
  ScopedEnv(const char* n, const char* value) : name(n) {
    const char* o = std::getenv(n);
    had = o != nullptr;
    if (had) old = o;
    if (value != nullptr) {
      ::setenv(n, value, 1);
    } else {
      ::unsetenv(n);
    }
  }
  ~ScopedEnv() {
    if (had) {
      ::setenv(name.c_str(), old.c_str(), 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }
};

TEST(BackendTest, ExplicitChoiceIsHonoured) {
  asyncio::EventLoop epoll(asyncio::Backend::epoll);
  EXPECT_STREQ(epoll.backend_name(), "epoll");
  if (!uring_allowed()) GTEST_SKIP() << "io_uring is disabled on this machine";
  asyncio::EventLoop uring(asyncio::Backend::io_uring);
  EXPECT_STREQ(uring.backend_name(), "io_uring");
}

TEST(BackendTest, EnvironmentVariableChoosesTheDefault) {
  {
    ScopedEnv env("ASYNCIO_BACKEND", "epoll");
    EXPECT_STREQ(asyncio::EventLoop().backend_name(), "epoll");
  }
  {
    ScopedEnv env("ASYNCIO_BACKEND", nullptr);
    EXPECT_STREQ(asyncio::EventLoop().backend_name(), "epoll");
    // An explicit choice wins over the variable.
  }
  {
    ScopedEnv env("ASYNCIO_BACKEND", "epoll");
    if (uring_allowed()) {
      EXPECT_STREQ(asyncio::EventLoop(asyncio::Backend::io_uring).backend_name(), "io_uring");
    }
  }
  if (!uring_allowed()) GTEST_SKIP() << "io_uring is disabled on this machine";
  ScopedEnv env("ASYNCIO_BACKEND", "io_uring");
  EXPECT_STREQ(asyncio::EventLoop().backend_name(), "io_uring");
  // asyncio::run() makes its loop the same way.
  std::string seen = asyncio::run([]() -> asyncio::Coro<std::string> {
    co_return asyncio::get_running_loop().backend_name();
  }());
  EXPECT_EQ(seen, "io_uring");
}

TEST(BackendTest, UnknownBackendNameIsAValueError) {
  ScopedEnv env("ASYNCIO_BACKEND", "kqueue");
  try {
    asyncio::EventLoop loop;
    FAIL() << "no exception";
  } catch (const asyncio::ValueError& e) {
    EXPECT_STREQ(e.what(), "ASYNCIO_BACKEND must be 'io_uring' or 'epoll', not 'kqueue'");
  }
}

/// In a child process whose io_uring_setup() is refused by a seccomp filter (as container
/// runtimes' default policies do), asks for io_uring: the loop must run on epoll and say why
/// on one line of stderr.
TEST(BackendTest, FallsBackToEpollWhenTheKernelRefusesIoUring) {
  int err[2];
  ASSERT_EQ(::pipe(err), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(err[1], 2);
    ::close(err[0]);
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(10);
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) ::_exit(11);
    int code = 0;
    {
      asyncio::EventLoop a(asyncio::Backend::io_uring);
      asyncio::EventLoop b(asyncio::Backend::io_uring);  // told once per process
      if (std::string(a.backend_name()) != "epoll" || std::string(b.backend_name()) != "epoll")
        code = 12;
      // And it works.
      int r = a.run_until_complete([]() -> asyncio::Coro<int> {
        co_await asyncio::sleep(0.01s);
        co_return 7;
      }());
      if (r != 7) code = 13;
    }
    ::_exit(code);
  }
  ::close(err[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(err[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(err[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(out,
            "asyncio: io_uring is unavailable ([Errno 1] Operation not permitted); using epoll\n");
}

class BothBackends : public ::testing::TestWithParam<asyncio::Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == asyncio::Backend::io_uring && !uring_allowed())
      GTEST_SKIP() << "io_uring is disabled on this machine";
  }
};

/// add_reader() is level-triggered on both backends, as Python's selectors: the callback runs
/// every iteration while data is unread, and stops once it is read.
TEST_P(BothBackends, ReaderIsLevelTriggered) {
  asyncio::EventLoop loop(GetParam());
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  ASSERT_EQ(::write(sv[1], "x", 1), 1);
  int calls = 0;
  loop.add_reader(sv[0], [&] {
    if (++calls == 3) {
      char c;
      EXPECT_EQ(::read(sv[0], &c, 1), 1);
    }
  });
  loop.run_until_complete([]() -> asyncio::Coro<void> { co_await asyncio::sleep(0.05s); }());
  EXPECT_EQ(calls, 3);
  EXPECT_TRUE(loop.remove_reader(sv[0]));
  ::close(sv[0]);
  ::close(sv[1]);
}

/// What epoll refuses is refused at once on io_uring too: a closed fd (EBADF) and a regular
/// file (EPERM), as OSErrors from add_reader().
TEST_P(BothBackends, UnpollableFdsAreRefusedAtOnce) {
  asyncio::EventLoop loop(GetParam());
  int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto errno_of = [&](int f) {
    try {
      loop.add_reader(f, [] {});
    } catch (const asyncio::OSError& e) {
      return e.code().value();
    }
    return 0;
  };
  EXPECT_EQ(errno_of(fd), EPERM);
  ::close(fd);
  EXPECT_EQ(errno_of(fd), EBADF);
  EXPECT_EQ(errno_of(1 << 30), EBADF);
}

/// Unwatching then closing a listening socket really closes it (a readiness poll holds its
/// file open until the kernel has let go of it): a connect right after is refused.
TEST_P(BothBackends, ClosingAWatchedListenerRefusesConnectionsAtOnce) {
  asyncio::EventLoop loop(GetParam());
  loop.run_until_complete([]() -> asyncio::Coro<void> {
    auto server = co_await asyncio::start_server(
        [](asyncio::StreamReader, asyncio::StreamWriter w) -> asyncio::Coro<void> {
          w.close();
          co_return;
        },
        "127.0.0.1", 0);
    std::uint16_t port = server.sockets().at(0).getsockname().port();
    co_await asyncio::sleep(0.01s);  // the acceptor's poll is armed
    server.close();
    co_await server.wait_closed();
    EXPECT_THROW(co_await asyncio::open_connection("127.0.0.1", port),
                 asyncio::ConnectionRefusedError);
  }());
}

/// A loop may be made in one thread and run in another, then in a third.
TEST_P(BothBackends, LoopMadeInOneThreadRunsInAnother) {
  asyncio::EventLoop loop(GetParam());
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  std::string got;
  std::thread t([&] {
    got = loop.run_until_complete([](int fd) -> asyncio::Coro<std::string> {
      co_return co_await asyncio::sock_recv(fd, 16);
    }(sv[0]));
  });
  std::this_thread::sleep_for(20ms);
  ASSERT_EQ(::write(sv[1], "hello", 5), 5);
  t.join();
  EXPECT_EQ(got, "hello");
  // And then in this thread (Python allows running a loop from one thread after another).
  std::thread writer([&] {
    std::this_thread::sleep_for(20ms);  // the loop waits in the kernel by then
    EXPECT_EQ(::write(sv[1], "again", 5), 5);
  });
  got = loop.run_until_complete([](int fd) -> asyncio::Coro<std::string> {
    co_return co_await asyncio::sock_recv(fd, 16);
  }(sv[0]));
  writer.join();
  EXPECT_EQ(got, "again");
  ::close(sv[0]);
  ::close(sv[1]);
}

/// call_soon_threadsafe() wakes a loop blocked in the kernel on both backends.
TEST_P(BothBackends, ThreadsafeCallWakesABlockedLoop) {
  asyncio::EventLoop loop(GetParam());
  int result = loop.run_until_complete([](asyncio::EventLoop& l) -> asyncio::Coro<int> {
    asyncio::Future<int> f = l.create_future<int>();
    // The other thread touches only the loop and a pointer: a Future's handle (its reference
    // count) belongs to the loop's thread.
    asyncio::Future<int>* fp = &f;
    std::thread t([&l, fp] {
      std::this_thread::sleep_for(20ms);
      l.call_soon_threadsafe([fp] { fp->set_result(42); });
    });
    int v = co_await f;
    t.join();
    co_return v;
  }(loop));
  EXPECT_EQ(result, 42);
}

INSTANTIATE_TEST_SUITE_P(Backends, BothBackends,
                         ::testing::Values(asyncio::Backend::epoll, asyncio::Backend::io_uring),
                         [](const auto& info) {
                           return info.param == asyncio::Backend::epoll ? "epoll" : "io_uring";
                         });

}  // namespace
