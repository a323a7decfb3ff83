// Hostile strings to every part of a subprocess that reaches exec (issue 9, defect 5): a NUL
// byte in the program, an argument, the executable, the working directory, the shell command
// or the environment, and environment names with '=' or empty. A C string ends at the first
// NUL, so passing such a string on would run another program, file or command than the
// caller asked for. CPython 3.12 raises ValueError("embedded null byte") or
// ValueError("illegal environment variable name") before it forks; so must we.
//
// Each case runs a command that would create a marker file if any truncated form of it ran,
// then checks: CPython's exception type and message, no marker, no child, no fd left open,
// and that the loop still runs a real child afterwards.

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/runners.hpp"
#include "asyncio/subprocess.hpp"
#include "asyncio/timeouts.hpp"
#include "process_helpers.hpp"

using namespace std::chrono_literals;
using namespace std::string_literals;
using asyncio::Coro;
using asyncio::Process;

namespace {

constexpr const char* kNul = "embedded null byte";
constexpr const char* kEnvName = "illegal environment variable name";

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

/// A fresh directory for marker files, removed with what it holds.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/asyncio_hostile_XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { (void)std::system(("rm -rf '" + path + "'").c_str()); }
};

/// One hostile spawn: `start()` must throw ValueError(`message`) without spawning.
struct Case {
  std::string name;
  std::function<Coro<Process>()> start;
  std::string message;
};

/// Runs every case in one loop; after each, a real child must still run.
void expect_refused(const std::vector<Case>& cases, const std::string& marker) {
  asyncio::run([](const std::vector<Case>& all, const std::string& m) -> Coro<> {
    for (const Case& c : all) {
      SCOPED_TRACE(c.name);
      const int fds = proctest::open_fd_count();
      try {
        Process p = co_await asyncio::wait_for(c.start(), 10s);
        co_await asyncio::wait_for(p.wait(), 10s);  // so that the marker check is deterministic
        ADD_FAILURE() << "the child was spawned";
      } catch (const asyncio::ValueError& e) {
        EXPECT_EQ(std::string(e.what()), c.message);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "not a ValueError: " << e.what();
      }
      EXPECT_FALSE(exists(m)) << "a truncated command ran";
      ::unlink(m.c_str());
      EXPECT_EQ(proctest::our_children().all, 0);
      EXPECT_EQ(proctest::open_fd_count(), fds);
      // The loop and spawning still work.
      Process ok = co_await asyncio::create_subprocess_exec(
          "sh", "-c", "echo ok", asyncio::SubprocessOptions{.stdout = asyncio::PIPE});
      EXPECT_EQ((co_await ok.communicate()).first, "ok\n");
    }
  }(cases, marker));
}

}  // namespace

TEST(SubprocessHostile, NulInProgramArgumentsAndExecutable) {
  TempDir dir;
  const std::string m = dir.path + "/marker";
  const std::string touch_path = "/usr/bin/touch";
  std::vector<Case> cases;
  // "victim\0/keep" would reach the child as "victim".
  cases.push_back(
      {"argument", [&] { return asyncio::create_subprocess_exec("touch", m + "\0/keep"s); }, kNul});
  cases.push_back(
      {"shell -c argument",
       [&] { return asyncio::create_subprocess_exec("sh", "-c", "touch '" + m + "'\0; false"s); },
       kNul});
  cases.push_back({"vector argument",
                   [&] {
                     std::vector<std::string> args{m, m + "\0x"s};
                     return asyncio::create_subprocess_exec("touch", args);
                   },
                   kNul});
  // "/bin/echo\0-evil" would run /bin/echo.
  cases.push_back({"program path",
                   [&] { return asyncio::create_subprocess_exec(touch_path + "\0-evil"s, m); },
                   kNul});
  cases.push_back({"program name looked up in PATH",
                   [&] { return asyncio::create_subprocess_exec("touch\0-evil"s, m); }, kNul});
  const std::string exe = touch_path + "\0-evil"s;
  cases.push_back({"executable",
                   [&] {
                     return asyncio::create_subprocess_exec(
                         "name", m, asyncio::SubprocessOptions{.executable = exe});
                   },
                   kNul});
  // Checked before the program is looked up (CPython): not FileNotFoundError.
  cases.push_back(
      {"missing program, NUL argument",
       [&] { return asyncio::create_subprocess_exec("/nonexistent/asyncio-prog", "a\0b"s); },
       kNul});
  expect_refused(cases, m);
}

TEST(SubprocessHostile, NulInShellCommandAndShell) {
  TempDir dir;
  const std::string m = dir.path + "/marker";
  std::vector<Case> cases;
  // "echo one\0; echo two" would run "echo one".
  cases.push_back(
      {"command",
       [&] { return asyncio::create_subprocess_shell("touch '" + m + "'\0; echo two"s); }, kNul});
  const std::string shell = "/bin/sh\0-evil"s;
  cases.push_back(
      {"executable (the shell)",
       [&] { return asyncio::create_subprocess_shell("touch '" + m + "'", {.executable = shell}); },
       kNul});
  expect_refused(cases, m);
}

TEST(SubprocessHostile, NulInWorkingDirectory) {
  TempDir dir;
  const std::string m = dir.path + "/marker";
  const std::string cwd = dir.path + "\0/elsewhere"s;
  const std::string missing_cwd = "/nonexistent\0"s;
  std::vector<Case> cases;
  cases.push_back({"cwd",
                   [&] {
                     return asyncio::create_subprocess_exec("touch", "marker",
                                                            asyncio::SubprocessOptions{.cwd = cwd});
                   },
                   kNul});
  // A NUL wins over the missing directory (CPython): not FileNotFoundError.
  cases.push_back({"missing cwd",
                   [&] {
                     return asyncio::create_subprocess_exec(
                         "touch", m, asyncio::SubprocessOptions{.cwd = missing_cwd});
                   },
                   kNul});
  expect_refused(cases, m);
}

TEST(SubprocessHostile, EnvironmentNulAndIllegalNames) {
  TempDir dir;
  const std::string m = dir.path + "/marker";
  const auto env_with = [](std::string key, std::string value) {
    auto env = std::make_shared<std::map<std::string, std::string>>();
    (*env)["PATH"] = "/usr/bin:/bin";
    (*env)[std::move(key)] = std::move(value);
    return env;
  };
  auto value_nul = env_with("A", "a\0b"s);
  auto key_nul = env_with("A\0B"s, "x");
  auto key_eq = env_with("A=B", "x");
  auto key_eq_first = env_with("=A", "x");
  auto key_empty = env_with("", "x");
  auto path_nul = env_with("PATH", "/nonexistent\0/usr/bin"s);
  // Both '=' in a name and a NUL in a value: the names are checked first (CPython).
  auto both = env_with("A=B", "x");
  (*both)["B"] = "x\0y"s;
  const auto touch_with = [&m](const std::shared_ptr<std::map<std::string, std::string>>& env) {
    return [&m, env] {
      return asyncio::create_subprocess_exec("touch", m, asyncio::SubprocessOptions{.env = *env});
    };
  };
  std::vector<Case> cases;
  cases.push_back({"value", touch_with(value_nul), kNul});
  cases.push_back({"name with NUL", touch_with(key_nul), kNul});
  cases.push_back({"PATH with NUL", touch_with(path_nul), kNul});
  cases.push_back({"name with =", touch_with(key_eq), kEnvName});
  cases.push_back({"name starting with =", touch_with(key_eq_first), kEnvName});
  // CPython 3.12's subprocess passes "=x" on; os.execve refuses it, and so do we.
  cases.push_back({"empty name", touch_with(key_empty), kEnvName});
  cases.push_back({"= name and NUL value", touch_with(both), kEnvName});
  cases.push_back({"= name and NUL argument",
                   [&] {
                     return asyncio::create_subprocess_exec(
                         "touch", m + "\0x"s, asyncio::SubprocessOptions{.env = *key_eq});
                   },
                   kEnvName});
  const std::string cwd_nul = "/tmp\0x"s;
  cases.push_back({"= name and NUL cwd",
                   [&] {
                     return asyncio::create_subprocess_exec(
                         "touch", m, asyncio::SubprocessOptions{.cwd = cwd_nul, .env = *key_eq});
                   },
                   kEnvName});
  cases.push_back(
      {"shell, value",
       [&] { return asyncio::create_subprocess_shell("touch '" + m + "'", {.env = *value_nul}); },
       kNul});
  expect_refused(cases, m);
}

namespace {
struct Made : asyncio::SubprocessProtocol {
  bool made = false;
  void connection_made(asyncio::SubprocessTransport&) override { made = true; }
};
}  // namespace

TEST(SubprocessHostile, LowLevelSubprocessExecAndShell) {
  TempDir dir;
  const std::string m = dir.path + "/marker";
  std::map<std::string, std::string> bad_env{{"A=B", "x"}};
  asyncio::run(
      [](const std::string& marker, const std::map<std::string, std::string>& env) -> Coro<> {
        const int fds = proctest::open_fd_count();
        std::shared_ptr<Made> protocol;
        auto factory = [&protocol] { return protocol = std::make_shared<Made>(); };
        try {
          co_await asyncio::subprocess_exec(factory, "touch", marker + "\0x"s);
          ADD_FAILURE() << "spawned";
        } catch (const asyncio::ValueError& e) {
          EXPECT_EQ(std::string(e.what()), kNul);
        }
        EXPECT_NE(protocol, nullptr);  // the factory runs first, as in CPython
        if (protocol == nullptr) co_return;
        EXPECT_FALSE(protocol->made);
        try {
          co_await asyncio::subprocess_shell(factory, "touch '" + marker + "'\0; true"s);
          ADD_FAILURE() << "spawned";
        } catch (const asyncio::ValueError& e) {
          EXPECT_EQ(std::string(e.what()), kNul);
        }
        EXPECT_FALSE(protocol->made);
        try {
          co_await asyncio::subprocess_exec(factory, "touch", marker,
                                            asyncio::SubprocessOptions{.env = env});
          ADD_FAILURE() << "spawned";
        } catch (const asyncio::ValueError& e) {
          EXPECT_EQ(std::string(e.what()), kEnvName);
        }
        EXPECT_FALSE(protocol->made);
        EXPECT_EQ(proctest::our_children().all, 0);
        EXPECT_EQ(proctest::open_fd_count(), fds);
        auto tp = co_await asyncio::subprocess_exec(factory, "true", asyncio::SubprocessOptions{});
        auto& [transport, p] = tp;
        EXPECT_TRUE(p->made);
        EXPECT_EQ(co_await transport->wait(), 0);
      }(m, bad_env));
  EXPECT_FALSE(exists(m));
}

TEST(SubprocessHostile, BadFdNumbersAndProcessGroup) {
  // CPython 3.12: pass_fds=(-1,) is ValueError("bad value(s) in fds_to_keep") (we used to skip
  // it silently); an fd that is not open, for pass_fds or stdin/stdout, is OSError(EBADF);
  // process_group=-1 sets no group and the child runs.
  asyncio::run([]() -> Coro<> {
    const int fds = proctest::open_fd_count();
    const int negative[] = {5, -1};
    try {
      co_await asyncio::create_subprocess_exec("true",
                                               asyncio::SubprocessOptions{.pass_fds = negative});
      ADD_FAILURE() << "spawned";
    } catch (const asyncio::ValueError& e) {
      EXPECT_STREQ(e.what(), "bad value(s) in fds_to_keep");
    }
    const int huge[] = {1000000};
    try {
      co_await asyncio::create_subprocess_exec("true",
                                               asyncio::SubprocessOptions{.pass_fds = huge});
      ADD_FAILURE() << "spawned";
    } catch (const asyncio::OSError& e) {
      EXPECT_EQ(e.code().value(), EBADF);
    }
    const int bad_fds[] = {-5, 1000000};
    for (int fd : bad_fds) {
      try {
        co_await asyncio::create_subprocess_exec("true", asyncio::SubprocessOptions{.stdin = fd});
        ADD_FAILURE() << "spawned";
      } catch (const asyncio::OSError& e) {
        EXPECT_EQ(e.code().value(), EBADF);
      }
      try {
        co_await asyncio::create_subprocess_exec("true", asyncio::SubprocessOptions{.stdout = fd});
        ADD_FAILURE() << "spawned";
      } catch (const asyncio::OSError& e) {
        EXPECT_EQ(e.code().value(), EBADF);
      }
    }
    EXPECT_EQ(proctest::our_children().all, 0);
    EXPECT_EQ(proctest::open_fd_count(), fds);
    Process p = co_await asyncio::create_subprocess_exec(
        "true", asyncio::SubprocessOptions{.process_group = -1});
    EXPECT_EQ(co_await p.wait(), 0);
  }());
}
