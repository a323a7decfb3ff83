// Tests of run_main() (Python: what `python3 script.py` does when the script ends with
// asyncio.run(amain())) and of format_exception(). Each program runs in a forked child whose
// stdout and stderr are pipes (so stdout is fully buffered, as when piped in a shell) and which
// leaves with _exit(): anything run_main() did not flush is lost, as a test failure.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/exceptions.hpp"
#include "asyncio/net_errors.hpp"
#include "asyncio/runners.hpp"
#include "asyncio/taskgroups.hpp"
#include "asyncio/tasks.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;

namespace {

struct ChildResult {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal killed it
  std::string out;
  std::string err;
};

/// Forks; the child points fd 1 and 2 at pipes, runs `body` and leaves with _exit(its value).
/// `on_line`, when given, runs in the parent once the child has written its first stdout line
/// (e.g. to send it SIGINT while it awaits). Bounded: the child has a 20 s alarm.
ChildResult run_child(const std::function<int()>& body,
                      const std::function<void(pid_t)>& on_line = {},
                      const std::function<void(pid_t)>& on_start = {}) {
  std::fflush(nullptr);
  std::cout.flush();
  int out[2];
  int err[2];
  if (::pipe(out) != 0 || ::pipe(err) != 0) return {};
  const pid_t pid = ::fork();
  if (pid < 0) return {};
  if (pid == 0) {
    ::alarm(20);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    for (int fd : {out[0], out[1], err[0], err[1]}) ::close(fd);
    ::_exit(body());
  }
  ::close(out[1]);
  ::close(err[1]);
  if (on_start) on_start(pid);
  ChildResult r;
  bool line_seen = false;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    if (::poll(fds, 2, 30000) <= 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
    }
    if (!line_seen && on_line && r.out.find('\n') != std::string::npos) {
      line_seen = true;
      on_line(pid);
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

Coro<> fail_value() {
  std::printf("before");        // stays in stdout's buffer (a pipe: fully buffered)
  std::cout << " and after\n";  // std::cout, synchronised with stdio
  throw asyncio::ValueError("bad value");
  co_return;
}

/// Fails at its first step: the children of a TaskGroup that all fail this way fail in the
/// same loop iteration, before the group's abort reaches them (as in the Python program).
Coro<> fail_now(std::exception_ptr e) {
  std::rethrow_exception(e);
  co_return;
}

}  // namespace

TEST(RunMain, UncaughtExceptionPrintsTypeAndMessageAndExitsWith1) {
  ChildResult r = run_child([] { return asyncio::run_main(fail_value()); });
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.out, "before and after\n");
  EXPECT_EQ(r.err, "ValueError: bad value\n");
}

TEST(RunMain, ReturnsZeroOrTheIntResultAndFlushes) {
  ChildResult r = run_child([] {
    return asyncio::run_main([]() -> Coro<> {
      std::printf("done");
      co_return;
    }());
  });
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "done");
  EXPECT_EQ(r.err, "");

  r = run_child([] {
    return asyncio::run_main([]() -> Coro<int> {
      std::printf("three");
      co_return 3;
    }());
  });
  EXPECT_EQ(r.exit_code, 3);  // Python: sys.exit(asyncio.run(amain()))
  EXPECT_EQ(r.out, "three");
}

TEST(RunMain, FlushesUnsynchronisedCout) {
  ChildResult r = run_child([] {
    std::ios::sync_with_stdio(false);  // std::cout now buffers on its own
    return asyncio::run_main([]() -> Coro<> {
      std::cout << "buffered in cout";
      throw std::runtime_error("boom");
      co_return;
    }());
  });
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "buffered in cout");
  EXPECT_EQ(r.err, "std::runtime_error: boom\n");
}

TEST(RunMain, TaskGroupFailurePrintsTheGroupAsPython) {
  // Python 3.12 prints the same lines, after the traceback frames C++ does not have, for
  //   async def f(): raise ValueError("one")   # and two more failing children
  //   async with asyncio.TaskGroup() as tg: tg.create_task(f()); ...
  ChildResult r = run_child([] {
    return asyncio::run_main([]() -> Coro<> {
      std::printf("out\n");
      co_await asyncio::task_group([](asyncio::TaskGroup& tg) -> Coro<> {
        tg.create_task(fail_now(std::make_exception_ptr(asyncio::ValueError("one"))));
        tg.create_task(fail_now(std::make_exception_ptr(std::runtime_error("two"))));
        tg.create_task(fail_now(asyncio::make_os_error(EIO, "three")));
        co_return;
      });
    }());
  });
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err,
            "  | ExceptionGroup: unhandled errors in a TaskGroup (3 sub-exceptions)\n"
            "  +-+---------------- 1 ----------------\n"
            "    | ValueError: one\n"
            "    +---------------- 2 ----------------\n"
            "    | std::runtime_error: two\n"
            "    +---------------- 3 ----------------\n"
            "    | OSError: [Errno 5] three\n"
            "    +------------------------------------\n");
}

TEST(RunMain, SigintWhileAwaitingEndsLikePython) {
  // CPython 3.12: prints the KeyboardInterrupt traceback (last line "KeyboardInterrupt"),
  // flushes stdout, then kills itself with SIGINT (the shell shows status 130).
  ChildResult r = run_child(
      [] {
        return asyncio::run_main([]() -> Coro<> {
          std::printf("waiting\n");
          std::fflush(stdout);
          std::printf("unflushed");
          try {
            co_await asyncio::sleep(10s);
          } catch (const asyncio::CancelledError&) {
            std::printf(" cleanup\n");
            throw;
          }
        }());
      },
      [](pid_t pid) { ::kill(pid, SIGINT); });
  EXPECT_EQ(r.signal, SIGINT);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.out, "waiting\nunflushed cleanup\n");
  EXPECT_EQ(r.err, "KeyboardInterrupt\n");
}

/// A free TCP port on 127.0.0.1 (bound, read, released: another process could take it in
/// between, which this test accepts).
std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// Connects to the echo server on 127.0.0.1:port, sends "hi" and reads the echo. False if
/// nothing listens there (yet).
bool echo_hi(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (ok) {
    ok = ::send(fd, "hi", 2, MSG_NOSIGNAL) == 2;
    char buf[2];
    std::size_t got = 0;
    while (ok && got < 2) {
      const ssize_t n = ::recv(fd, buf + got, 2 - got, 0);
      ok = n > 0;
      if (ok) got += static_cast<std::size_t>(n);
    }
  }
  ::close(fd);
  return ok;
}

TEST(RunMain, RealProgramInterruptedWhileServing) {
  // examples/tcp_echo_server --port N serves until Ctrl-C. Its output sits in stdout's buffer
  // (a pipe) when SIGINT comes: run_main() must flush it, print
  // KeyboardInterrupt and die of SIGINT (the issue: it used to abort, status 134, losing it).
  const std::uint16_t port = free_port();
  const std::string exe = std::string(ASYNCIO_EXAMPLES_DIR) + "/tcp_echo_server";
  const std::string port_text = std::to_string(port);
  ChildResult r = run_child(
      [&] {
        ::signal(SIGINT, SIG_DFL);  // as a shell does for a foreground job
        ::execl(exe.c_str(), exe.c_str(), "--port", port_text.c_str(), nullptr);
        return 127;
      },
      {},
      [port](pid_t pid) {
        for (int i = 0; i < 1000 && !echo_hi(port); ++i) ::usleep(10000);
        ::kill(pid, SIGINT);
      });
  EXPECT_EQ(r.signal, SIGINT);
  // The handler printed these before echoing, so before SIGINT ("Close the connection" may
  // come before or after it).
  const std::string head = "Serving on ('127.0.0.1', " + port_text + ")\nReceived 'hi' from ";
  EXPECT_EQ(r.out.substr(0, head.size()), head) << r.out;
  EXPECT_NE(r.out.find("\nSend: 'hi'\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "KeyboardInterrupt\n");
}

TEST(FormatException, OneLineForms) {
  using asyncio::format_exception;
  EXPECT_EQ(format_exception(std::make_exception_ptr(asyncio::CancelledError())),
            "CancelledError\n");
  EXPECT_EQ(format_exception(std::make_exception_ptr(asyncio::CancelledError("stop"))),
            "CancelledError: stop\n");
  EXPECT_EQ(format_exception(std::make_exception_ptr(asyncio::TimeoutError())),
            "TimeoutError: the operation timed out\n");
  EXPECT_EQ(format_exception(std::make_exception_ptr(asyncio::KeyboardInterrupt())),
            "KeyboardInterrupt\n");
  EXPECT_EQ(format_exception(std::make_exception_ptr(std::runtime_error(""))),
            "std::runtime_error\n");
  EXPECT_EQ(format_exception(std::make_exception_ptr(42)), "int\n");
  EXPECT_EQ(format_exception(std::make_exception_ptr(asyncio::RuntimeError("a\nb"))),
            "RuntimeError: a\nb\n");
  EXPECT_EQ(format_exception(nullptr), "NoneType: None\n");
}

TEST(FormatException, NestedGroupsAsPython) {
  // Python: traceback.print_exception(ExceptionGroup("outer", [ValueError("a"),
  //   ExceptionGroup("inner", [TypeError("b"), RuntimeError()])]))
  using asyncio::ExceptionGroup;
  auto inner = std::make_exception_ptr(
      ExceptionGroup("inner", {std::make_exception_ptr(std::invalid_argument("b")),
                               std::make_exception_ptr(asyncio::RuntimeError(""))}));
  auto outer = std::make_exception_ptr(
      ExceptionGroup("outer", {std::make_exception_ptr(asyncio::ValueError("a")), inner}));
  EXPECT_EQ(asyncio::format_exception(outer),
            "  | ExceptionGroup: outer (2 sub-exceptions)\n"
            "  +-+---------------- 1 ----------------\n"
            "    | ValueError: a\n"
            "    +---------------- 2 ----------------\n"
            "    | ExceptionGroup: inner (2 sub-exceptions)\n"
            "    +-+---------------- 1 ----------------\n"
            "      | std::invalid_argument: b\n"
            "      +---------------- 2 ----------------\n"
            "      | RuntimeError\n"
            "      +------------------------------------\n");
  // A group that is not the last sub-exception closes itself, then its parent closes.
  auto first = std::make_exception_ptr(
      ExceptionGroup("first", {inner, std::make_exception_ptr(asyncio::ValueError("z"))}));
  EXPECT_EQ(asyncio::format_exception(first),
            "  | ExceptionGroup: first (2 sub-exceptions)\n"
            "  +-+---------------- 1 ----------------\n"
            "    | ExceptionGroup: inner (2 sub-exceptions)\n"
            "    +-+---------------- 1 ----------------\n"
            "      | std::invalid_argument: b\n"
            "      +---------------- 2 ----------------\n"
            "      | RuntimeError\n"
            "      +------------------------------------\n"
            "    +---------------- 2 ----------------\n"
            "    | ValueError: z\n"
            "    +------------------------------------\n");
}

TEST(FormatException, WidthAndDepthLimitsAsPython) {
  using asyncio::ExceptionGroup;
  std::vector<std::exception_ptr> many;
  for (int i = 0; i < 17; ++i) {
    many.push_back(std::make_exception_ptr(asyncio::ValueError(std::to_string(i))));
  }
  std::string text =
      asyncio::format_exception(std::make_exception_ptr(ExceptionGroup("many", std::move(many))));
  EXPECT_NE(text.find("    +---------------- 15 ----------------\n    | ValueError: 14\n"
                      "    +---------------- ... ----------------\n"
                      "    | and 2 more exceptions\n"
                      "    +------------------------------------\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("ValueError: 15"), std::string::npos);

  auto e = std::make_exception_ptr(
      ExceptionGroup("d0", {std::make_exception_ptr(asyncio::ValueError("x"))}));
  for (int i = 1; i < 12; ++i) {
    // Appended rather than "d" + std::to_string(i): GCC 12 at -O3 warns (-Wrestrict) about
    // its own inlined operator+ on a temporary.
    std::string name = "d";
    name += std::to_string(i);
    e = std::make_exception_ptr(ExceptionGroup(name, {e}));
  }
  text = asyncio::format_exception(e);
  EXPECT_NE(text.find("                    | ExceptionGroup: d2 (1 sub-exception)\n"
                      "                    +-+---------------- 1 ----------------\n"
                      "                      | ... (max_group_depth is 10)\n"
                      "                      +------------------------------------\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("d1 "), std::string::npos);
}
