// Runs every example program of examples/ and checks what it prints and how long it takes.
//
// Each example is a port of a Python asyncio program (examples/python/<stem>.py) and must print
// what the Python original prints. Times are printed by the examples as "+1.0s" (one decimal);
// an expected line writes them as "{1.0}", which matches any such number within
// [1.0 - kEarly, 1.0 + kLate]. "{date}" matches Python's str(datetime.now()). Everything else
// in an expected line must match exactly.
//
// The examples are built in the same tree (so they are sanitizer builds under the asan preset):
// the margins are generous upwards, where load and sanitizers push times, and tight downwards,
// since a sleep never ends early.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/coroutines.hpp"  // ASYNCIO_COROUTINE_DEBUG, as the examples are built

extern char** environ;

namespace {

constexpr double kEarly = 0.1;       // how much sooner than expected a time may be
constexpr double kLate = 0.5;        // how much later than expected a time may be
constexpr double kStartup = 0.25;    // process start-up and exit, on top of kLate for wall times
constexpr double kHangLimit = 30.0;  // an example running longer than this is killed

struct ExampleRun {
  int exit_status = -1;  // exit code; 128 + signal number if killed by a signal
  bool timed_out = false;
  std::string out;
  std::string err;
  double seconds = 0;  // wall time from spawn to exit
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Runs ASYNCIO_EXAMPLES_DIR/<stem> with no arguments; captures stdout (pipe) and stderr (a
/// temporary file), and measures the wall time.
ExampleRun run_example(const std::string& stem) {
  ExampleRun run;
  const std::string exe = std::string(ASYNCIO_EXAMPLES_DIR) + "/" + stem;
  if (access(exe.c_str(), X_OK) != 0) {
    ADD_FAILURE() << exe << " is missing or not executable";
    return run;
  }
  char err_path[] = "/tmp/asyncio_example_stderr_XXXXXX";
  const int err_fd = mkstemp(err_path);
  if (err_fd < 0) {
    ADD_FAILURE() << "mkstemp failed: errno " << errno;
    return run;
  }
  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2 failed: errno " << errno;
    close(err_fd);
    unlink(err_path);
    return run;
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  char* argv[] = {const_cast<char*>(exe.c_str()), nullptr};

  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&t0] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  pid_t pid = -1;
  const int spawn_rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_fd);
  if (spawn_rc != 0) {
    ADD_FAILURE() << "posix_spawn(" << exe << ") failed: error " << spawn_rc;
    close(out_pipe[0]);
    unlink(err_path);
    return run;
  }

  // Read stdout until EOF, killing the example if it hangs.
  char buf[4096];
  for (;;) {
    const double left = kHangLimit - elapsed();
    if (left <= 0) {
      run.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd pfd{out_pipe[0], POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(left * 1000) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // timeout: re-checked at the top
    const ssize_t n = read(out_pipe[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    run.out.append(buf, static_cast<std::size_t>(n));
  }
  close(out_pipe[0]);

  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  run.seconds = elapsed();
  if (WIFEXITED(status)) {
    run.exit_status = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    run.exit_status = 128 + WTERMSIG(status);
  }
  run.err = read_file(err_path);
  unlink(err_path);
  return run;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

/// Consumes `n` characters of `s` from `pos` that fit `shape` ('9': a digit, anything else:
/// that very character); returns whether they did.
bool consume_shape(const std::string& s, std::size_t& pos, std::string_view shape) {
  if (s.size() - pos < shape.size()) return false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const char c = s[pos + i];
    if (shape[i] == '9' ? !std::isdigit(static_cast<unsigned char>(c)) : c != shape[i]) {
      return false;
    }
  }
  pos += shape.size();
  return true;
}

/// Consumes a number printed with "%.1f" (digits, '.', one digit); returns its text.
std::optional<std::string> consume_time(const std::string& s, std::size_t& pos) {
  std::size_t end = pos;
  while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end]))) ++end;
  if (end == pos || end + 2 > s.size() || s[end] != '.' ||
      !std::isdigit(static_cast<unsigned char>(s[end + 1]))) {
    return std::nullopt;
  }
  std::string text = s.substr(pos, end + 2 - pos);
  pos = end + 2;
  return text;
}

/// Matches one printed line against an expected line with "{1.5}" / "{date}" placeholders.
/// Appends the numbers matched by "{x}" placeholders to `times`; returns an explanation of the
/// mismatch, or an empty string. (Hand-written rather than std::regex, which trips GCC 12's
/// -Wmaybe-uninitialized under -O1 -fsanitize=address.)
std::string match_line(const std::string& actual, const std::string& expected,
                       std::vector<double>& times) {
  std::size_t a = 0;  // position in `actual`
  std::size_t e = 0;  // position in `expected`
  while (e < expected.size()) {
    const std::size_t close = expected[e] == '{' ? expected.find('}', e) : std::string::npos;
    if (close == std::string::npos) {  // a literal character
      if (a >= actual.size() || actual[a] != expected[e]) {
        return "differs from column " + std::to_string(a + 1);
      }
      ++a;
      ++e;
      continue;
    }
    const std::string what = expected.substr(e + 1, close - e - 1);
    e = close + 1;
    if (what == "date") {  // Python's str(datetime.now())
      if (!consume_shape(actual, a, "9999-99-99 99:99:99.999999")) {
        return "no date at column " + std::to_string(a + 1);
      }
      continue;
    }
    const double want = std::stod(what);
    const std::optional<std::string> got = consume_time(actual, a);
    if (!got) return "no time at column " + std::to_string(a + 1);
    const double t = std::stod(*got);
    times.push_back(t);
    if (t < want - kEarly || t > want + kLate) {
      std::ostringstream why;
      why << "time " << *got << " is not within [" << want - kEarly << ", " << want + kLate << "]";
      return why.str();
    }
  }
  if (a != actual.size()) return "has extra text from column " + std::to_string(a + 1);
  return {};
}

/// Checks the whole output, line by line; returns the times matched by "{x}" placeholders.
std::vector<double> expect_output(const ExampleRun& run, const std::vector<std::string>& expected) {
  std::vector<double> times;
  const std::vector<std::string> actual = split_lines(run.out);
  std::ostringstream report;
  if (actual.size() != expected.size()) {
    report << "expected " << expected.size() << " lines, got " << actual.size() << "\n";
  }
  for (std::size_t i = 0; i < std::max(actual.size(), expected.size()); ++i) {
    const std::string a = i < actual.size() ? actual[i] : "<missing>";
    const std::string e = i < expected.size() ? expected[i] : "<none>";
    const std::string why = match_line(a, e, times);
    if (!why.empty()) {
      report << "line " << i + 1 << ": " << why << "\n  expected: " << e << "\n  actual:   " << a
             << "\n";
    }
  }
  const std::string problems = report.str();
  EXPECT_TRUE(problems.empty()) << problems << "--- whole output:\n" << run.out;
  return times;
}

/// Runs `stem`, checks its exit status, that it wrote `expected_err` (default: nothing) to
/// stderr, its output, and that it took `seconds` of wall time (within [-kEarly, +kLate +
/// kStartup]). Returns the run.
ExampleRun check_example(const std::string& stem, const std::vector<std::string>& expected,
                         double seconds, std::vector<double>* times = nullptr,
                         const std::string& expected_err = "") {
  SCOPED_TRACE("example " + stem);
  ExampleRun run = run_example(stem);
  EXPECT_FALSE(run.timed_out) << stem << " still ran after " << kHangLimit << " s";
  EXPECT_EQ(run.exit_status, 0) << "stderr:\n" << run.err;
  EXPECT_EQ(run.err, expected_err);
  std::vector<double> t = expect_output(run, expected);
  if (times != nullptr) *times = std::move(t);
  EXPECT_GE(run.seconds, seconds - kEarly);
  EXPECT_LE(run.seconds, seconds + kLate + kStartup) << stem << " took " << run.seconds << " s";
  return run;
}

// ---- The examples, in demo order -----------------------------------------------------------

TEST(Examples, HelloWorld) {
  check_example("hello_world", {"hello", "world"}, 1.0);
}

TEST(Examples, RunnerContext) {
  check_example("runner_context",
                {
                    "hello, first",
                    "first run returned 5",
                    "hello, second",
                    "second run returned 6",
                    "both runs used the same event loop",
                    "the with block closed the runner and its loop",
                },
                0.3);
}

TEST(Examples, CoroutineNotAwaited) {
  check_example(
      "coroutine_not_awaited",
      {
          "nested() called without await: a coroutine object was created, its body did not run",
          "42",
      },
      0.0, nullptr,
#if ASYNCIO_COROUTINE_DEBUG
      // Python's RuntimeWarning; debug builds only (see asyncio/coroutines.hpp).
      "asyncio: coroutine 'nested' was never awaited (Task-1)\n"
#else
      ""
#endif
  );
}

TEST(Examples, CreateTaskTwo) {
  check_example("create_task_two", {"started at +{0.0}s", "hello", "world", "finished at +{2.0}s"},
                2.0);
}

TEST(Examples, SayAfterSequentialVsConcurrent) {
  std::vector<double> t;
  const ExampleRun run = check_example("say_after_sequential_vs_concurrent",
                                       {
                                           "sequential:",
                                           "started at +{0.0}s",
                                           "hello",
                                           "world",
                                           "finished at +{3.0}s",
                                           "concurrent:",
                                           "started at +{0.0}s",
                                           "hello",
                                           "world",
                                           "finished at +{2.0}s",
                                       },
                                       5.0, &t);
  ASSERT_EQ(t.size(), 4u);
  // The concurrent half is about one second faster than the sequential one.
  EXPECT_NEAR(t[1] - t[3], 1.0, 0.3) << run.out;
}

TEST(Examples, LoopCreateTask) {
  check_example("loop_create_task",
                {
                    "created Task-2 and greeter",
                    "hello from a named task",
                    "greeter returned 23",
                    "hello from an unnamed task",
                    "Task-2 returned 26",
                },
                0.4);
}

TEST(Examples, TaskgroupTwoSleepers) {
  check_example("taskgroup_two_sleepers",
                {
                    "started at +{0.0}s",
                    "hello",
                    "world",
                    "finished at +{2.0}s",
                    "Both tasks have completed now: hello, world",
                },
                2.0);
}

TEST(Examples, WaitForTimeout) {
  check_example("wait_for_timeout", {"timeout!"}, 1.0);
}

TEST(Examples, AsyncGeneratorTicker) {
  check_example("async_generator_ticker",
                {
                    "tick 0 at +{0.0}s",
                    "tick 1 at +{0.5}s",
                    "tick 2 at +{1.0}s",
                    "ticker closed",
                    "tock 0 at +{1.5}s",
                    "tock 1 at +{2.0}s",
                    "ticker closed",
                    "done at +{2.0}s",
                },
                2.0);
}

TEST(Examples, GatherInOrder) {
  check_example("gather_in_order",
                {
                    "fast finished after 0.1s",
                    "medium finished after 0.2s",
                    "slow finished after 0.3s",
                    "results in argument order: ['slow', 'medium', 'fast']",
                },
                0.3);
}

TEST(Examples, GatherFactorial) {
  check_example("gather_factorial",
                {
                    "Task A: Compute factorial(2), currently i=2...",
                    "Task B: Compute factorial(3), currently i=2...",
                    "Task C: Compute factorial(4), currently i=2...",
                    "Task A: factorial(2) = 2",
                    "Task B: Compute factorial(3), currently i=3...",
                    "Task C: Compute factorial(4), currently i=3...",
                    "Task B: factorial(3) = 6",
                    "Task C: Compute factorial(4), currently i=4...",
                    "Task C: factorial(4) = 24",
                    "[2, 6, 24]",
                },
                3.0);
}

TEST(Examples, GatherReturnExceptions) {
  // Python prints [1, ZeroDivisionError('division by zero'), 3].
  check_example("gather_return_exceptions", {R"([1, std::domain_error("division by zero"), 3])"},
                0.3);
}

TEST(Examples, GatherFailureCaught) {
  check_example("gather_failure_caught",
                {
                    "gather raised ValueError: boom at +{0.5}s",
                    "the other tasks keep running",
                    "slow-1 finished at +{1.0}s",
                    "slow-2 finished at +{1.5}s",
                    "results: slow-1, slow-2 at +{1.5}s",
                },
                1.5);
}

TEST(Examples, WaitFirstCompleted) {
  check_example("wait_first_completed",
                {
                    "wait returned at +{0.5}s: 1 done, 2 pending",
                    "done: fast -> slept 0.5s",
                    "cancelled: medium",
                    "cancelled: slow",
                    "finished at +{0.5}s",
                },
                0.5);
}

TEST(Examples, TimeoutRandomSleep) {
  check_example("timeout_random_sleep",
                {
                    "round 1: sleep(0.2) finished at +{0.2}s",
                    "round 2: sleep(1.0) timed out at +{0.7}s",
                },
                0.7);
}

TEST(Examples, CancelSleepingTask) {
  check_example("cancel_sleeping_task",
                {
                    "cancel_me(): before sleep",
                    "cancel_me(): cancel sleep",
                    "cancel_me(): after sleep",
                    "main(): cancel_me is cancelled now",
                },
                1.0);
}

TEST(Examples, ShieldExample) {
  check_example("shield_example",
                {
                    "inner: started",
                    "main: outer was cancelled at +{0.5}s; inner is still running",
                    "inner: finished",
                    "main: inner returned 'inner result' at +{1.0}s",
                },
                1.0);
}

TEST(Examples, DisplayDate) {
  // The dates differ on every run: only their format, the count of lines and the timing are
  // checked.
  check_example("display_date",
                {
                    "tick 1 at +{0.0}s: {date}",
                    "tick 2 at +{1.0}s: {date}",
                    "tick 3 at +{2.0}s: {date}",
                    "tick 4 at +{3.0}s: {date}",
                    "tick 5 at +{4.0}s: {date}",
                },
                4.0);
}

TEST(Examples, MockHttpRequests) {
  // Concurrent: about 2 s, not the 6 s that three sequential requests would take.
  check_example("mock_http_requests",
                {
                    "fetched https://example.com/a",
                    "fetched https://example.com/b",
                    "fetched https://example.com/c",
                    "3 pages (102 bytes) in {2.0}s (one after the other: 6.0s)",
                },
                2.0);
}

// ---- Locks and semaphores (issue 3) ------------------------------------------------------

TEST(Examples, LockSharedResource) {
  // The second worker waits the whole second the first one holds the lock.
  check_example("lock_shared_resource",
                {
                    "[{0.0}s] worker 1 wants the resource",
                    "[{0.0}s] worker 1 acquires the resource",
                    "[{0.0}s] worker 2 wants the resource",
                    "[{1.0}s] worker 1 releases the resource",
                    "[{1.0}s] worker 2 acquires the resource",
                    "[{2.0}s] worker 2 releases the resource",
                    "[{2.0}s] done",
                },
                2.0);
}

TEST(Examples, SemaphoreLimit) {
  // Semaphore(2): four one-second tasks run two at a time, so two seconds, not one or four.
  check_example("semaphore_limit",
                {
                    "[{0.0}s] task 1 started",
                    "[{0.0}s] task 2 started",
                    "[{1.0}s] task 1 finished",
                    "[{1.0}s] task 2 finished",
                    "[{1.0}s] task 3 started",
                    "[{1.0}s] task 4 started",
                    "[{2.0}s] task 3 finished",
                    "[{2.0}s] task 4 finished",
                },
                2.0);
}

// ---- Subprocesses and signals (issue 5) -----------------------------------------------------

TEST(Examples, SubprocessLines) {
  // Lines arrive as the child prints them, not all at its exit.
  check_example("subprocess_lines",
                {"[{0.0}s] line 1", "[{0.5}s] line 2", "[{1.0}s] line 3", "[{1.5}s] exit code 0"},
                1.5);
}

TEST(Examples, SubprocessParallel) {
  // Five children, at most two at a time; each job's time is fixed by the example.
  check_example("subprocess_parallel",
                {
                    "[{0.0}s] job 0 started",
                    "[{0.0}s] job 1 started",
                    "[{0.5}s] job 0 exited with 0",
                    "[{0.5}s] job 2 started",
                    "[{0.8}s] job 2 exited with 2",
                    "[{0.8}s] job 3 started",
                    "[{1.0}s] job 1 exited with 1",
                    "[{1.0}s] job 4 started",
                    "[{1.4}s] job 4 exited with 4",
                    "[{1.6}s] job 3 exited with 3",
                    "[{1.6}s] exit codes: [0, 1, 2, 3, 4]",
                },
                1.6);
}

TEST(Examples, GracefulShutdown) {
  // SIGTERM (sent by the example to itself) closes the server; the open connection is still
  // served before the program ends.
  check_example("graceful_shutdown",
                {
                    "[{0.0}s] serving",
                    "[{0.0}s] echoed 'hello'",
                    "[{1.0}s] SIGTERM: closing the server",
                    "[{1.0}s] echoed 'still there?'",
                    "[{1.0}s] server closed, bye",
                },
                1.0);
}

// ---- Bookkeeping -----------------------------------------------------------------------------

/// The stems listed in examples/DEMO_ORDER, without comments and blank lines.
std::vector<std::string> demo_order() {
  std::vector<std::string> stems;
  std::ifstream in(std::string(ASYNCIO_SOURCE_DIR) + "/examples/DEMO_ORDER");
  for (std::string line; std::getline(in, line);) {
    line = line.substr(0, line.find('#'));
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    const auto last = line.find_last_not_of(" \t\r");
    stems.push_back(line.substr(first, last - first + 1));
  }
  return stems;
}

TEST(Examples, DemoOrderListsEachExampleOnce) {
  const std::vector<std::string> stems = demo_order();
  ASSERT_FALSE(stems.empty()) << "examples/DEMO_ORDER is missing or empty";
  std::set<std::string> seen;
  for (const std::string& stem : stems) {
    EXPECT_TRUE(seen.insert(stem).second) << stem << " is listed twice in examples/DEMO_ORDER";
    const std::string exe = std::string(ASYNCIO_EXAMPLES_DIR) + "/" + stem;
    EXPECT_EQ(access(exe.c_str(), X_OK), 0)
        << "examples/DEMO_ORDER lists " << stem << " but " << exe << " was not built";
    const std::string src = std::string(ASYNCIO_SOURCE_DIR) + "/examples/" + stem + ".cpp";
    EXPECT_EQ(access(src.c_str(), R_OK), 0) << "examples/DEMO_ORDER lists " << stem
                                            << " but examples/" << stem << ".cpp does not exist";
  }
  // ...and every example program is in the demo.
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(ASYNCIO_SOURCE_DIR) + "/examples")) {
    if (entry.path().extension() != ".cpp") continue;
    const std::string stem = entry.path().stem().string();
    EXPECT_TRUE(seen.count(stem) == 1)
        << "examples/" << stem << ".cpp is not listed in examples/DEMO_ORDER";
  }
}

}  // namespace
