// Tests of subprocesses: create_subprocess_exec/shell, Process, the low-level
// subprocess_exec/SubprocessProtocol, pipe transports and child watching (Python:
// test_asyncio/test_subprocess.py, test_unix_events.py pipe transport tests). Real programs
// of the machine (cat, sh, sleep, head, printf, true, false, pwd), no mocks.
//
// Tests whose name contains "Thread" use threads (the TSan run selects them by name).

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/gather.hpp"
#include "asyncio/runners.hpp"
#include "asyncio/subprocess.hpp"
#include "asyncio/tasks.hpp"
#include "asyncio/timeouts.hpp"
#include "asyncio/unix_pipes.hpp"
#include "process_helpers.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::Process;

namespace {

using proctest::Children;
using proctest::open_fd_count;
using proctest::our_children;
using proctest::wait_children_gone;

/// Runs `body` in a new loop with a 30 s safety timeout.
void run(std::function<Coro<>()> body) {
  asyncio::run([](std::function<Coro<>()> b) -> Coro<> {
    co_await asyncio::wait_for(b(), 30s);
  }(std::move(body)));
}

std::string big_input(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

}  // namespace

// ---- Process basics --------------------------------------------------------------------------

TEST(Subprocess, EchoTenMebibytesThroughCatWithCommunicate) {
  const std::string input = big_input(10 * 1024 * 1024);
  run([&]() -> Coro<> {
    Process p = co_await asyncio::create_subprocess_exec(
        "cat", {}, {.stdin = asyncio::PIPE, .stdout = asyncio::PIPE, .stderr = asyncio::PIPE});
    EXPECT_GT(p.pid, 0);
    EXPECT_TRUE(p.stdin.has_value());
    auto [out, err] = co_await p.communicate(input);
    EXPECT_EQ(out.size(), input.size());
    EXPECT_TRUE(out == input);
    EXPECT_EQ(err, "");
    EXPECT_EQ(p.returncode(), 0);
  });
}

TEST(Subprocess, BothPipesFullAtOnceDoNotDeadlock) {
  // The child writes 4 MiB to stdout and to stderr before reading its input: communicate()
  // must read both while writing stdin.
  const std::string input = big_input(4 * 1024 * 1024);
  run([&]() -> Coro<> {
    Process p = co_await asyncio::create_subprocess_shell(
        "head -c 4194304 /dev/zero; head -c 4194304 /dev/zero >&2; cat",
        {.stdin = asyncio::PIPE, .stdout = asyncio::PIPE, .stderr = asyncio::PIPE});
    auto [out, err] = co_await p.communicate(input);
    EXPECT_EQ(out.size(), 2 * input.size());
    EXPECT_TRUE(out.substr(4 * 1024 * 1024) == input);
    EXPECT_EQ(err.size(), 4u * 1024 * 1024);
    EXPECT_EQ(co_await p.wait(), 0);
  });
}

TEST(Subprocess, StderrMergedIntoStdout) {
  run([]() -> Coro<> {
    Process p = co_await asyncio::create_subprocess_shell(
        "echo out; echo err >&2; echo out2", {.stdout = asyncio::PIPE, .stderr = asyncio::STDOUT});
    EXPECT_FALSE(p.stderr.has_value());
    auto [out, err] = co_await p.communicate();
    EXPECT_EQ(out, "out\nerr\nout2\n");
    EXPECT_EQ(err, "");
  });
}

TEST(Subprocess, ExitCodes) {
  run([]() -> Coro<> {
    // (A named vector: GCC 12 cannot keep a braced list across co_await in a coroutine.)
    const std::vector<int> codes = {0, 1, 3, 42, 255};
    for (int code : codes) {
      Process p =
          co_await asyncio::create_subprocess_exec("sh", "-c", "exit " + std::to_string(code));
      EXPECT_EQ(p.returncode(), std::nullopt);
      EXPECT_EQ(co_await p.wait(), code);
      EXPECT_EQ(p.returncode(), code);
      EXPECT_EQ(co_await p.wait(), code);  // again: at once
    }
    Process t = co_await asyncio::create_subprocess_exec("true");
    Process f = co_await asyncio::create_subprocess_exec("false");
    auto [a, b] = co_await asyncio::gather(t.wait(), f.wait());
    EXPECT_EQ(a, 0);
    EXPECT_EQ(b, 1);
  });
}

TEST(Subprocess, SignalReturnCodesAreNegative) {
  run([]() -> Coro<> {
    Process term = co_await asyncio::create_subprocess_exec("sh", "-c", "kill -TERM $$; sleep 5");
    EXPECT_EQ(co_await term.wait(), -SIGTERM);
    Process usr = co_await asyncio::create_subprocess_exec("sh", "-c", "kill -USR1 $$; sleep 5");
    EXPECT_EQ(co_await usr.wait(), -SIGUSR1);
  });
}

TEST(Subprocess, KillSleep100) {
  run([]() -> Coro<> {
    const auto t0 = std::chrono::steady_clock::now();
    Process p = co_await asyncio::create_subprocess_exec("sleep", "100");
    co_await asyncio::sleep(0.05s);
    EXPECT_EQ(p.returncode(), std::nullopt);
    p.kill();
    EXPECT_EQ(co_await p.wait(), -SIGKILL);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    // After the exit: signalling is a no-op (the pid may be reused); once the transport is
    // finished (here already: no pipes), ProcessLookupError as Python.
    EXPECT_THROW(p.send_signal(SIGTERM), asyncio::ProcessLookupError);

    Process q = co_await asyncio::create_subprocess_exec("sleep", "100");
    q.terminate();
    EXPECT_EQ(co_await q.wait(), -SIGTERM);

    Process r = co_await asyncio::create_subprocess_exec("sleep", "100");
    r.send_signal(SIGINT);
    EXPECT_EQ(co_await r.wait(), -SIGINT);
  });
}

TEST(Subprocess, SendSignalBetweenExitAndFinishIsANoOp) {
  run([]() -> Coro<> {
    // stdout stays open in a grandchild for a moment: the child exits first, the transport
    // finishes later.
    Process p = co_await asyncio::create_subprocess_shell("(sleep 0.3; echo late) &",
                                                          {.stdout = asyncio::PIPE});
    while (!p.returncode()) co_await asyncio::sleep(0.01s);
    EXPECT_EQ(*p.returncode(), 0);
    p.send_signal(SIGTERM);  // reaped already: must not signal anything
    std::string out = co_await p.stdout->read();
    EXPECT_EQ(out, "late\n");
    EXPECT_EQ(co_await p.wait(), 0);
  });
}

TEST(Subprocess, CancellingWaitLeavesTheChildRunning) {
  run([]() -> Coro<> {
    Process p = co_await asyncio::create_subprocess_exec("sleep", "100");
    auto waiter = asyncio::create_task(p.wait());
    co_await asyncio::sleep(0.05s);
    EXPECT_TRUE(waiter.cancel());
    bool cancelled = false;
    try {
      co_await waiter;
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
    }
    EXPECT_TRUE(cancelled);
    EXPECT_EQ(p.returncode(), std::nullopt);
    // wait_for() cancels its wait() on timeout too.
    bool timed_out = false;
    try {
      co_await asyncio::wait_for(p.wait(), 0.05s);
    } catch (const asyncio::TimeoutError&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(p.returncode(), std::nullopt);
    p.kill();
    EXPECT_EQ(co_await p.wait(), -SIGKILL);
  });
}

TEST(Subprocess, CancellingCommunicate) {
  run([]() -> Coro<> {
    // A child that reads nothing and writes nothing: communicate() waits for its stdout.
    Process p = co_await asyncio::create_subprocess_exec(
        "sleep", "100",
        asyncio::SubprocessOptions{
            .stdin = asyncio::PIPE, .stdout = asyncio::PIPE, .stderr = asyncio::PIPE});
    bool timed_out = false;
    try {
      co_await asyncio::wait_for(p.communicate("some input"), 0.1s);
    } catch (const asyncio::TimeoutError&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(p.returncode(), std::nullopt);
    p.kill();
    EXPECT_EQ(co_await p.wait(), -SIGKILL);

    // Cancelled while cat is echoing: cat keeps running until its stdin closes.
    Process c = co_await asyncio::create_subprocess_exec(
        "cat", {}, {.stdin = asyncio::PIPE, .stdout = asyncio::PIPE});
    c.stdin->write("hello\n");
    auto task = asyncio::create_task(c.communicate());
    co_await asyncio::sleep(0s);
    task.cancel();
    try {
      co_await task;
    } catch (const asyncio::CancelledError&) {
    }
    EXPECT_TRUE(task.cancelled());
    c.kill();
    EXPECT_EQ(co_await c.wait(), -SIGKILL);
  });
}

TEST(Subprocess, ManyChildrenConcurrentlyLeaveNoZombieAndNoFd) {
  const int fds_before = open_fd_count();
  run([]() -> Coro<> {
    std::vector<Coro<int>> runs;
    for (int i = 0; i < 200; ++i) {
      runs.push_back([](int n) -> Coro<int> {
        Process p = co_await asyncio::create_subprocess_exec(
            "sh", "-c", "echo " + std::to_string(n) + "; exit " + std::to_string(n % 7),
            asyncio::SubprocessOptions{.stdout = asyncio::PIPE});
        auto [out, err] = co_await p.communicate();
        EXPECT_EQ(out, std::to_string(n) + "\n");
        co_return *p.returncode();
      }(i));
    }
    std::vector<int> codes = co_await asyncio::gather(std::move(runs));
    for (int i = 0; i < 200; ++i) EXPECT_EQ(codes[static_cast<std::size_t>(i)], i % 7);
  });
  EXPECT_EQ(open_fd_count(), fds_before);
  const Children c = our_children();  // reaped by the loop itself: none left at all
  EXPECT_EQ(c.zombies, 0);
  EXPECT_EQ(c.all, 0);
}

TEST(Subprocess, MissingProgram) {
  const int fds_before = open_fd_count();
  run([]() -> Coro<> {
    const std::vector<std::string> names = {"asyncio-no-such-program", "/nonexistent/asyncio-prog"};
    for (const std::string& name : names) {
      try {
        co_await asyncio::create_subprocess_exec(
            name, "x", asyncio::SubprocessOptions{.stdout = asyncio::PIPE});
        ADD_FAILURE() << "no exception for " << name;
      } catch (const asyncio::FileNotFoundError& e) {
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
        EXPECT_EQ(e.code().value(), ENOENT);
      }
    }
    // Not executable: EACCES, an OSError.
    char path[] = "/tmp/asyncio_not_executable_XXXXXX";
    const int fd = ::mkstemp(path);
    EXPECT_GE(fd, 0);
    ::fchmod(fd, 0644);
    ::close(fd);
    try {
      co_await asyncio::create_subprocess_exec(path);
      ADD_FAILURE() << "no exception";
    } catch (const asyncio::OSError& e) {
      EXPECT_EQ(e.code().value(), EACCES);
    }
    ::unlink(path);
    // Through the shell, a missing program is the shell's exit code 127.
    Process p = co_await asyncio::create_subprocess_shell("asyncio-no-such-program 2>/dev/null");
    EXPECT_EQ(co_await p.wait(), 127);
  });
  EXPECT_EQ(open_fd_count(), fds_before);
}

TEST(Subprocess, CwdEnvAndExecutable) {
  run([]() -> Coro<> {
    Process p = co_await asyncio::create_subprocess_exec("pwd", {},
                                                         {.stdout = asyncio::PIPE, .cwd = "/tmp"});
    EXPECT_EQ((co_await p.communicate()).first, "/tmp\n");

    try {
      co_await asyncio::create_subprocess_exec("pwd", {}, {.cwd = "/nonexistent-dir"});
      ADD_FAILURE() << "no exception";
    } catch (const asyncio::FileNotFoundError& e) {
      EXPECT_NE(std::string(e.what()).find("/nonexistent-dir"), std::string::npos) << e.what();
    }

    // env replaces the environment; without PATH, lookup uses /bin:/usr/bin (Python's defpath).
    std::map<std::string, std::string> only_foo;
    only_foo["FOO"] = "bar baz";
    Process e = co_await asyncio::create_subprocess_exec(
        "sh", "-c", "echo \"$FOO|${HOME-unset}\"",
        asyncio::SubprocessOptions{.stdout = asyncio::PIPE, .env = only_foo});
    EXPECT_EQ((co_await e.communicate()).first, "bar baz|unset\n");

    auto env = asyncio::current_environment();
    env["ASYNCIO_TEST_VAR"] = "42";
    Process e2 = co_await asyncio::create_subprocess_shell("echo $ASYNCIO_TEST_VAR",
                                                           {.stdout = asyncio::PIPE, .env = env});
    EXPECT_EQ((co_await e2.communicate()).first, "42\n");

    // The vector form, for argument lists built at run time.
    std::vector<std::string> args;
    args.push_back("-c");
    args.push_back("echo \"$#:$1\"");
    args.push_back("zero");
    args.push_back("one two");
    Process v = co_await asyncio::create_subprocess_exec("sh", args, {.stdout = asyncio::PIPE});
    EXPECT_EQ((co_await v.communicate()).first, "1:one two\n");

    // executable: what runs; argv[0] stays the given name.
    Process x = co_await asyncio::create_subprocess_exec(
        "my-name", "-c", "echo $0",
        asyncio::SubprocessOptions{.stdout = asyncio::PIPE, .executable = "/bin/sh"});
    EXPECT_EQ((co_await x.communicate()).first, "my-name\n");
  });
}

TEST(Subprocess, DevNullInheritAndFdRedirections) {
  run([]() -> Coro<> {
    Process p = co_await asyncio::create_subprocess_exec(
        "cat", {},
        {.stdin = asyncio::DEVNULL, .stdout = asyncio::PIPE, .stderr = asyncio::DEVNULL});
    EXPECT_FALSE(p.stdin.has_value());
    EXPECT_FALSE(p.stderr.has_value());
    EXPECT_EQ((co_await p.communicate()).first, "");

    Process q =
        co_await asyncio::create_subprocess_shell("echo hidden", {.stdout = asyncio::DEVNULL});
    EXPECT_FALSE(q.stdout.has_value());
    EXPECT_EQ(co_await q.wait(), 0);

    // An fd of ours as the child's stdout and stdin.
    int out[2];
    int in[2];
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(in, O_CLOEXEC), 0);
    EXPECT_EQ(::write(in[1], "via fds\n", 8), 8);
    ::close(in[1]);
    Process r =
        co_await asyncio::create_subprocess_exec("cat", {}, {.stdin = in[0], .stdout = out[1]});
    EXPECT_EQ(co_await r.wait(), 0);
    ::close(out[1]);
    ::close(in[0]);
    char buf[64] = {};
    EXPECT_EQ(::read(out[0], buf, sizeof buf), 8);
    EXPECT_STREQ(buf, "via fds\n");
    ::close(out[0]);

    // An fd of ours as the child's stderr.
    int a[2];
    EXPECT_EQ(::pipe2(a, O_CLOEXEC), 0);
    Process s = co_await asyncio::create_subprocess_shell(
        "echo swapped >&2", {.stdout = asyncio::DEVNULL, .stderr = a[1]});
    EXPECT_EQ(co_await s.wait(), 0);
    ::close(a[1]);
    char buf2[64] = {};
    EXPECT_EQ(::read(a[0], buf2, sizeof buf2), 8);
    ::close(a[0]);

    EXPECT_THROW(co_await asyncio::create_subprocess_exec("true", {}, {.stdin = asyncio::STDOUT}),
                 asyncio::ValueError);
    EXPECT_THROW(co_await asyncio::create_subprocess_exec("true", {}, {.stdout = 12345}),
                 asyncio::OSError);
  });
}

TEST(Subprocess, PassFdsAndCloseFds) {
  run([]() -> Coro<> {
    int keep[2];
    int leak[2];
    EXPECT_EQ(::pipe2(keep, O_CLOEXEC), 0);  // close-on-exec, yet passed explicitly
    EXPECT_EQ(::pipe(leak), 0);              // NOT close-on-exec: close_fds must close it
    const std::string k = std::to_string(keep[1]);
    const std::string l = std::to_string(leak[1]);
    const int passed[] = {keep[1]};
    asyncio::SubprocessOptions options{.stdout = asyncio::PIPE, .pass_fds = passed};
    Process p = co_await asyncio::create_subprocess_shell(
        "echo passed >&" + k + "; (echo leaked >&" + l + ") 2>/dev/null; echo $?", options);
    auto [out, err] = co_await p.communicate();
    EXPECT_NE(out, "0\n");  // writing to the non-passed fd failed: it was closed
    ::close(keep[1]);
    ::close(leak[1]);
    char buf[64] = {};
    EXPECT_EQ(::read(keep[0], buf, sizeof buf), 7);
    EXPECT_STREQ(buf, "passed\n");
    ::fcntl(leak[0], F_SETFL, O_NONBLOCK);
    EXPECT_EQ(::read(leak[0], buf, sizeof buf), 0);  // EOF: nobody else had it open
    ::close(keep[0]);
    ::close(leak[0]);

    // close_fds = false: an inheritable fd stays open.
    int open_pipe[2];
    EXPECT_EQ(::pipe(open_pipe), 0);
    Process q = co_await asyncio::create_subprocess_shell(
        "echo inherited >&" + std::to_string(open_pipe[1]), {.close_fds = false});
    EXPECT_EQ(co_await q.wait(), 0);
    ::close(open_pipe[1]);
    char buf2[64] = {};
    EXPECT_EQ(::read(open_pipe[0], buf2, sizeof buf2), 10);
    ::close(open_pipe[0]);
  });
}

TEST(Subprocess, StartNewSessionAndProcessGroup) {
  run([]() -> Coro<> {
    // /proc/<pid>/stat: pid (comm) state ppid pgrp session ...
    const char* fields =
        "read -r pid comm state ppid pgrp session rest < /proc/$$/stat; echo $pgrp $session";
    Process p = co_await asyncio::create_subprocess_exec(
        "sh", "-c", fields,
        asyncio::SubprocessOptions{.stdout = asyncio::PIPE, .start_new_session = true});
    auto [out, err] = co_await p.communicate();
    EXPECT_EQ(out, std::to_string(p.pid) + " " + std::to_string(p.pid) + "\n");

    Process q = co_await asyncio::create_subprocess_exec(
        "sh", "-c", fields,
        asyncio::SubprocessOptions{.stdout = asyncio::PIPE, .process_group = 0});
    auto [out2, err2] = co_await q.communicate();
    EXPECT_EQ(out2.substr(0, out2.find(' ')), std::to_string(q.pid));
    EXPECT_NE(out2, std::to_string(q.pid) + " " + std::to_string(q.pid) + "\n");  // same session
  });
}

TEST(Subprocess, ReadLineByLine) {
  run([]() -> Coro<> {
    Process p = co_await asyncio::create_subprocess_exec(
        "printf", "one\\ntwo\\n\\nlast", asyncio::SubprocessOptions{.stdout = asyncio::PIPE});
    std::vector<std::string> lines;
    while (true) {
      std::string line = co_await p.stdout->readline();
      if (line.empty()) break;
      lines.push_back(line);
    }
    EXPECT_EQ(lines, (std::vector<std::string>{"one\n", "two\n", "\n", "last"}));
    EXPECT_TRUE(p.stdout->at_eof());
    EXPECT_EQ(co_await p.wait(), 0);

    Process q = co_await asyncio::create_subprocess_exec(
        "printf", "abcdefgh", asyncio::SubprocessOptions{.stdout = asyncio::PIPE});
    EXPECT_EQ(co_await q.stdout->readexactly(3), "abc");
    EXPECT_EQ(co_await q.stdout->read(2), "de");
    EXPECT_EQ(co_await q.stdout->readuntil("g"), "fg");
    try {
      co_await q.stdout->readexactly(5);
      ADD_FAILURE();
    } catch (const asyncio::IncompleteReadError& e) {
      EXPECT_EQ(e.partial(), "h");
      EXPECT_EQ(e.expected(), 5u);
    }
    EXPECT_EQ(co_await q.stdout->read(), "");
    EXPECT_EQ(co_await q.wait(), 0);
  });
}

TEST(Subprocess, LimitAndFlowControlOfReaders) {
  run([]() -> Coro<> {
    // A 100-byte line with limit 16: readline throws ValueError and drops the line.
    Process p = co_await asyncio::create_subprocess_shell("printf '%0100d\\nshort\\n' 0",
                                                          {.stdout = asyncio::PIPE, .limit = 16});
    bool too_long = false;
    try {
      co_await p.stdout->readline();
    } catch (const asyncio::ValueError&) {
      too_long = true;
    }
    EXPECT_TRUE(too_long);
    EXPECT_EQ(co_await p.stdout->readline(), "short\n");
    EXPECT_EQ(co_await p.wait(), 0);

    // 8 MiB of output, read slowly with a small limit: reading pauses (the pipe fills, the
    // child blocks), nothing is lost.
    Process q = co_await asyncio::create_subprocess_exec(
        "head", "-c", "8388608", "/dev/zero",
        asyncio::SubprocessOptions{.stdout = asyncio::PIPE, .limit = 4096});
    std::size_t total = 0;
    while (true) {
      std::string chunk = co_await q.stdout->read(65536);
      if (chunk.empty()) break;
      total += chunk.size();
    }
    EXPECT_EQ(total, 8u * 1024 * 1024);
    EXPECT_EQ(co_await q.wait(), 0);
  });
}

TEST(Subprocess, InteractiveWriteDrainReadline) {
  run([]() -> Coro<> {
    Process p = co_await asyncio::create_subprocess_exec(
        "cat", {}, {.stdin = asyncio::PIPE, .stdout = asyncio::PIPE});
    for (int i = 0; i < 100; ++i) {
      p.stdin->write("line " + std::to_string(i) + "\n");
      co_await p.stdin->drain();
      EXPECT_EQ(co_await p.stdout->readline(), "line " + std::to_string(i) + "\n");
    }
    p.stdin->close();
    co_await p.stdin->wait_closed();
    EXPECT_TRUE(p.stdin->is_closing());
    EXPECT_EQ(co_await p.stdout->read(), "");
    EXPECT_EQ(co_await p.wait(), 0);
  });
}

TEST(Subprocess, ChildClosingStdinEarlyIsNotAnError) {
  // head exits after 10 bytes: our writes hit a closed pipe. No SIGPIPE may kill this
  // process, and communicate() ignores the broken pipe, as Python.
  const std::string input = big_input(1024 * 1024);
  run([&]() -> Coro<> {
    Process p = co_await asyncio::create_subprocess_exec(
        "head", "-c", "10",
        asyncio::SubprocessOptions{.stdin = asyncio::PIPE, .stdout = asyncio::PIPE});
    auto [out, err] = co_await p.communicate(input);
    EXPECT_EQ(out, input.substr(0, 10));
    EXPECT_EQ(p.returncode(), 0);

    // Writing and draining by hand: drain() reports the lost pipe.
    Process q = co_await asyncio::create_subprocess_exec("true", {}, {.stdin = asyncio::PIPE});
    EXPECT_EQ(co_await q.wait(), 0);
    bool lost = false;
    try {
      for (int i = 0; i < 100; ++i) {
        q.stdin->write(input);
        co_await q.stdin->drain();
      }
    } catch (const asyncio::ConnectionError&) {
      lost = true;
    }
    EXPECT_TRUE(lost);
  });
}

TEST(Subprocess, CommunicateWithoutPipes) {
  run([]() -> Coro<> {
    Process p = co_await asyncio::create_subprocess_exec("true");
    auto [out, err] = co_await p.communicate("ignored");
    EXPECT_EQ(out, "");
    EXPECT_EQ(err, "");
    EXPECT_EQ(p.returncode(), 0);
  });
}

// ---- Low level: subprocess_exec / SubprocessProtocol ---------------------------------------

namespace {
struct Recorder : asyncio::SubprocessProtocol {
  std::vector<std::string> events;
  std::string out;
  std::string err;
  asyncio::SubprocessTransport* transport = nullptr;
  asyncio::Future<void> done = asyncio::get_running_loop().create_future<void>();

  void connection_made(asyncio::SubprocessTransport& t) override {
    transport = &t;
    events.push_back("connection_made");
  }
  void pipe_data_received(int fd, std::span<const std::byte> data) override {
    (fd == 1 ? out : err) += asyncio::Protocol::as_chars(data);
  }
  void pipe_connection_lost(int fd, std::exception_ptr) override {
    events.push_back("pipe_connection_lost " + std::to_string(fd));
  }
  void process_exited() override {
    events.push_back("process_exited " + std::to_string(*transport->get_returncode()));
  }
  void connection_lost(std::exception_ptr) override {
    events.push_back("connection_lost");
    done.set_result();
  }
};
}  // namespace

TEST(SubprocessLowLevel, ProtocolEventsInOrder) {
  run([]() -> Coro<> {
    auto [transport, protocol] =
        co_await asyncio::subprocess_exec([] { return std::make_shared<Recorder>(); }, "sh", "-c",
                                          "read x; echo got $x; echo oops >&2; exit 5");
    EXPECT_EQ(protocol->events.at(0), "connection_made");
    // Unset redirections are PIPEs at this level, as in Python.
    auto* in = dynamic_cast<asyncio::WritePipeTransport*>(transport->get_pipe_transport(0));
    EXPECT_NE(in, nullptr);
    if (in == nullptr) co_return;
    EXPECT_NE(dynamic_cast<asyncio::ReadPipeTransport*>(transport->get_pipe_transport(1)), nullptr);
    EXPECT_NE(dynamic_cast<asyncio::ReadPipeTransport*>(transport->get_pipe_transport(2)), nullptr);
    EXPECT_EQ(transport->get_pipe_transport(3), nullptr);
    EXPECT_EQ(std::any_cast<pid_t>(transport->get_extra_info("subprocess")), transport->get_pid());
    in->write("hello\n");
    in->close();
    co_await protocol->done;
    EXPECT_EQ(protocol->out, "got hello\n");
    EXPECT_EQ(protocol->err, "oops\n");
    EXPECT_EQ(transport->get_returncode(), 5);
    EXPECT_EQ(co_await transport->wait(), 5);
    const auto& ev = protocol->events;
    EXPECT_EQ(ev.size(), 6u);
    EXPECT_EQ(ev.back(), "connection_lost");
    EXPECT_NE(std::find(ev.begin(), ev.end(), "pipe_connection_lost 0"), ev.end());
    EXPECT_NE(std::find(ev.begin(), ev.end(), "pipe_connection_lost 1"), ev.end());
    EXPECT_NE(std::find(ev.begin(), ev.end(), "pipe_connection_lost 2"), ev.end());
    EXPECT_NE(std::find(ev.begin(), ev.end(), "process_exited 5"), ev.end());
    EXPECT_EQ(transport->get_protocol(), nullptr);  // dropped after connection_lost
    EXPECT_THROW(transport->kill(), asyncio::ProcessLookupError);
  });
}

TEST(SubprocessLowLevel, ShellCloseKillsTheChild) {
  run([]() -> Coro<> {
    auto [transport, protocol] = co_await asyncio::subprocess_shell(
        [] { return std::make_shared<Recorder>(); }, "sleep 100", {.stdin = asyncio::DEVNULL});
    EXPECT_EQ(transport->get_pipe_transport(0), nullptr);
    transport->close();
    EXPECT_TRUE(transport->is_closing());
    co_await protocol->done;
    EXPECT_EQ(transport->get_returncode(), -SIGKILL);
  });
}

TEST(SubprocessLowLevel, ProtocolExceptionsGoToTheExceptionHandler) {
  struct Throwing : Recorder {
    void pipe_data_received(int, std::span<const std::byte>) override {
      throw std::runtime_error("bad data");
    }
  };
  run([]() -> Coro<> {
    std::vector<std::string> reports;
    asyncio::get_running_loop().set_exception_handler(
        [&](asyncio::EventLoop&, const asyncio::ExceptionContext& c) {
          reports.push_back(c.message);
        });
    auto [transport, protocol] =
        co_await asyncio::subprocess_exec([] { return std::make_shared<Throwing>(); }, "echo", "x",
                                          asyncio::SubprocessOptions{.stdin = asyncio::DEVNULL});
    co_await protocol->done;
    EXPECT_EQ(reports, std::vector<std::string>{
                           "Exception in callback SubprocessProtocol.pipe_data_received"});
    EXPECT_EQ(co_await transport->wait(), 0);
  });
}

// ---- Pipe transports -----------------------------------------------------------------------

namespace {
struct PipeRecorder : asyncio::Protocol {
  std::string data;
  std::vector<std::string> events;
  std::exception_ptr lost;
  asyncio::Future<void> done = asyncio::get_running_loop().create_future<void>();
  void connection_made(asyncio::Transport&) override { events.push_back("made"); }
  void data_received(std::span<const std::byte> d) override { data += as_chars(d); }
  bool eof_received() override {
    events.push_back("eof");
    return false;
  }
  void pause_writing() override { events.push_back("pause"); }
  void resume_writing() override { events.push_back("resume"); }
  void connection_lost(std::exception_ptr exc) override {
    events.push_back("lost");
    lost = exc;
    done.set_result();
  }
};
}  // namespace

TEST(PipeTransports, ReadPipe) {
  const int fds_before = open_fd_count();
  run([]() -> Coro<> {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    auto [transport, protocol] = co_await asyncio::connect_read_pipe(
        [] { return std::make_shared<PipeRecorder>(); }, fds[0]);
    EXPECT_EQ(std::any_cast<int>(transport->get_extra_info("pipe")), fds[0]);
    EXPECT_TRUE(transport->is_reading());
    EXPECT_THROW(transport->write("x"), asyncio::RuntimeError);
    EXPECT_EQ(::write(fds[1], "abc", 3), 3);
    while (protocol->data.size() < 3) co_await asyncio::sleep(0.001s);
    transport->pause_reading();
    EXPECT_FALSE(transport->is_reading());
    EXPECT_EQ(::write(fds[1], "def", 3), 3);
    co_await asyncio::sleep(0.02s);
    EXPECT_EQ(protocol->data, "abc");
    transport->resume_reading();
    ::close(fds[1]);
    co_await protocol->done;
    EXPECT_EQ(protocol->data, "abcdef");
    EXPECT_EQ(protocol->events, (std::vector<std::string>{"made", "eof", "lost"}));
    EXPECT_EQ(protocol->lost, nullptr);
    EXPECT_EQ(transport->fileno(), -1);  // closed after connection_lost
    EXPECT_EQ(transport->get_protocol(), nullptr);
  });
  EXPECT_EQ(open_fd_count(), fds_before);
}

TEST(PipeTransports, WritePipeFlowControlAndBrokenPipe) {
  run([]() -> Coro<> {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    auto [transport, protocol] = co_await asyncio::connect_write_pipe(
        [] { return std::make_shared<PipeRecorder>(); }, fds[1]);
    transport->set_write_buffer_limits(1024);
    EXPECT_EQ(transport->get_write_buffer_limits(),
              (std::pair<std::size_t, std::size_t>{256, 1024}));
    EXPECT_THROW(transport->set_write_buffer_limits(10, 20), asyncio::ValueError);
    // 1 MiB: the pipe takes 64 KiB, the rest is buffered: pause_writing.
    transport->write(big_input(1024 * 1024));
    EXPECT_GT(transport->get_write_buffer_size(), 0u);
    EXPECT_EQ(protocol->events.back(), "pause");
    // Drain it from the other end: resume_writing once under 256 bytes.
    std::size_t total = 0;
    char buf[65536];
    while (total < 1024 * 1024) {
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n > 0) total += static_cast<std::size_t>(n);
      co_await asyncio::sleep(0s);
    }
    while (protocol->events.back() != "resume") co_await asyncio::sleep(0.001s);
    EXPECT_EQ(transport->get_write_buffer_size(), 0u);
    // The reader goes away with data buffered: BrokenPipeError, and no SIGPIPE.
    transport->write(big_input(256 * 1024));
    ::close(fds[0]);
    co_await protocol->done;
    EXPECT_NE(protocol->lost, nullptr);
    if (protocol->lost) {
      EXPECT_THROW(std::rethrow_exception(protocol->lost), asyncio::BrokenPipeError);
    }
    transport->write("ignored after the loss");
  });
}

TEST(PipeTransports, WritePipeCloseFlushesFirst) {
  run([]() -> Coro<> {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    auto [transport, protocol] = co_await asyncio::connect_write_pipe(
        [] { return std::make_shared<PipeRecorder>(); }, fds[1]);
    const std::string data = big_input(300 * 1024);
    transport->write(data);
    transport->close();
    EXPECT_TRUE(transport->is_closing());
    std::string got;
    char buf[65536];
    while (true) {
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n == 0) break;
      if (n > 0) got.append(buf, static_cast<std::size_t>(n));
      co_await asyncio::sleep(0s);
    }
    ::close(fds[0]);
    EXPECT_TRUE(got == data);
    co_await protocol->done;
    EXPECT_EQ(protocol->lost, nullptr);
  });
}

TEST(PipeTransports, RegularFileIsRejected) {
  run([]() -> Coro<> {
    int fd = ::open("/etc/hostname", O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    EXPECT_THROW(
        co_await asyncio::connect_read_pipe([] { return std::make_shared<PipeRecorder>(); }, fd),
        asyncio::ValueError);
    ::close(fd);  // not taken by the transport
  });
}

// ---- Loop close with children still running -------------------------------------------------

TEST(Subprocess, LoopCloseKillsAndReapsRunningChildrenThread) {
  // The reaping happens in a background thread: a Thread test, for TSan.
  const int fds_before = open_fd_count();
  pid_t pid = -1;
  run([&]() -> Coro<> {
    Process p = co_await asyncio::create_subprocess_exec(
        "sleep", "100", asyncio::SubprocessOptions{.stdout = asyncio::PIPE});
    pid = p.pid;
    // Dropped without waiting: the transport keeps itself alive until the loop closes.
  });
  EXPECT_GT(pid, 0);
  const Children c = wait_children_gone();
  EXPECT_EQ(c.all, 0);
  EXPECT_EQ(open_fd_count(), fds_before);
}

// ---- Threads -----------------------------------------------------------------------------------

TEST(Subprocess, SpawnFromSeveralThreadsEachWithItsOwnLoopThread) {
  const int fds_before = open_fd_count();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &ok] {
      asyncio::run([](int t, std::atomic<int>& ok) -> Coro<> {
        std::vector<Coro<bool>> runs;
        for (int i = 0; i < 25; ++i) {
          runs.push_back([](std::string word) -> Coro<bool> {
            Process p = co_await asyncio::create_subprocess_exec(
                "cat", {}, {.stdin = asyncio::PIPE, .stdout = asyncio::PIPE});
            auto [out, err] = co_await p.communicate(word);
            co_return out == word&& p.returncode() == 0;
          }("thread " + std::to_string(t) + " child " + std::to_string(i)));
        }
        for (bool b : co_await asyncio::gather(std::move(runs))) {
          if (b) ++ok;
        }
      }(t, ok));
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(open_fd_count(), fds_before);
  const Children c = our_children();
  EXPECT_EQ(c.all, 0);
}

TEST(Subprocess, ThreadedFallbackWatcherThread) {
  asyncio::detail::set_child_watcher_kind(asyncio::detail::ChildWatcherKind::Threaded);
  struct Restore {
    ~Restore() { asyncio::detail::set_child_watcher_kind(asyncio::detail::ChildWatcherKind::Auto); }
  } restore;
  const int fds_before = open_fd_count();
  run([]() -> Coro<> {
    Process p = co_await asyncio::create_subprocess_exec("sh", "-c", "exit 7");
    EXPECT_EQ(co_await p.wait(), 7);
    Process k = co_await asyncio::create_subprocess_exec("sleep", "100");
    co_await asyncio::sleep(0.02s);
    k.kill();
    EXPECT_EQ(co_await k.wait(), -SIGKILL);
    std::vector<Coro<int>> runs;
    for (int i = 0; i < 20; ++i) {
      runs.push_back([](int n) -> Coro<int> {
        Process c = co_await asyncio::create_subprocess_exec(
            "sh", "-c", "exit " + std::to_string(n),
            asyncio::SubprocessOptions{.stdout = asyncio::PIPE});
        co_await c.communicate();
        co_return *c.returncode();
      }(i));
    }
    std::vector<int> codes = co_await asyncio::gather(std::move(runs));
    for (int i = 0; i < 20; ++i) EXPECT_EQ(codes[static_cast<std::size_t>(i)], i);
    // Left running when the loop closes: killed, and the waiting thread reaps it.
    co_await asyncio::create_subprocess_exec("sleep", "100");
  });
  EXPECT_EQ(open_fd_count(), fds_before);
  const Children c = wait_children_gone();
  EXPECT_EQ(c.all, 0);
}
