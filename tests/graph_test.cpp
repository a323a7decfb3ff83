// Tests of async call graphs (asyncio/graph.hpp; Python 3.14: asyncio.graph and `python -m
// asyncio ps/pstree`), through each route: capture_call_graph/format_call_graph in the
// program, format_all_tasks (the tree), the signal-triggered dump, and gdb (tools/gdb/asyncio.py)
// on the live process and on a core file. The program is tests/graph_scenario.hpp; its waiting
// lines are found by their `// @name` markers.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/asyncio.hpp"
#include "asyncio/graph.hpp"
#include "graph_scenario.hpp"

using namespace std::chrono_literals;
using asyncio::AnyTask;
using asyncio::Coro;
using asyncio::FutureCallGraph;

namespace {

const std::string kScenario = std::string(ASYNCIO_SOURCE_DIR) + "/tests/graph_scenario.hpp";

/// The line of `// @name` in the scenario.
unsigned marker(const std::string& name) {
  std::ifstream in(kScenario);
  std::string line;
  for (unsigned n = 1; std::getline(in, line); ++n) {
    if (line.find("// @" + name) != std::string::npos) return n;
  }
  ADD_FAILURE() << "no marker @" << name;
  return 0;
}

/// "graph_scenario.hpp:<line of @name>", as the tree and gdb print sites.
std::string site(const std::string& name) {
  return kScenario + ":" + std::to_string(marker(name));
}

AnyTask find_task(const std::string& name) {
  for (const AnyTask& t : asyncio::all_tasks()) {
    if (t.get_name() == name) return t;
  }
  ADD_FAILURE() << "no task " << name;
  return {};
}

void expect_frame(const asyncio::FrameCallGraphEntry& e, const std::string& function,
                  const std::string& name) {
  EXPECT_EQ(e.function, function);
  EXPECT_EQ(e.file, kScenario);
  EXPECT_EQ(e.line, marker(name)) << "function " << e.function;
}

std::vector<std::string> names_of(const std::vector<FutureCallGraph>& graphs) {
  std::vector<std::string> names;
  for (const FutureCallGraph& g : graphs) names.push_back(g.future.get_name());
  return names;
}

/// The name the library reports for `qualified`: the qualified name where std::source_location
/// exists (GCC), the bare name with Clang 14's __builtin_FUNCTION fallback.
std::string fn(const std::string& qualified) {
#if defined(__cpp_lib_source_location)
  return qualified;
#else
  std::size_t p = qualified.rfind("::");
  return p == std::string::npos ? qualified : qualified.substr(p + 2);
#endif
}

// ---- Tree parsing: which task is under which ------------------------------------------------

struct TreeTask {
  std::string parent;
  std::string waiting_on;
  std::vector<std::string> frames;  // "function() file:line", innermost first
};

/// Parses format_all_tasks() / `asyncio ps` output: each "(T) Task(name='x'" header's parent is
/// the nearest previous header that is less indented; "at ..." lines are its frames.
std::map<std::string, TreeTask> parse_tree(const std::string& text) {
  std::map<std::string, TreeTask> tasks;
  std::vector<std::pair<std::size_t, std::string>> stack;  // (column, name)
  std::string current;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::size_t col = line.find("(T) Task(name='");
    if (col != std::string::npos) {
      std::size_t start = col + 15;
      std::string name = line.substr(start, line.find('\'', start) - start);
      while (!stack.empty() && stack.back().first >= col) stack.pop_back();
      TreeTask t;
      t.parent = stack.empty() ? "" : stack.back().second;
      std::size_t w = line.find("waiting on ");
      if (w != std::string::npos) t.waiting_on = line.substr(w + 11);
      tasks[name] = t;
      stack.emplace_back(col, name);
      current = name;
      continue;
    }
    std::size_t at = line.find("at ");
    if (at != std::string::npos && !current.empty() &&
        line.find("also awaited") == std::string::npos) {
      tasks[current].frames.push_back(line.substr(at + 3));
    }
  }
  return tasks;
}

/// The structure every route must show (tree form).
/// `main_at`: the marker where main's innermost coroutine (group_body) last awaited.
void check_tree(const std::string& text, const std::string& main_at) {
  SCOPED_TRACE(text);
  auto tasks = parse_tree(text);
  ASSERT_EQ(tasks.size(), 29u);
  EXPECT_EQ(tasks["main"].parent, "");
  for (int i = 0; i < 10; ++i) {
    const TreeTask& locker = tasks["locker-" + std::to_string(i)];
    EXPECT_EQ(locker.parent, "main");
    EXPECT_EQ(locker.waiting_on, "Lock.acquire");
    ASSERT_EQ(locker.frames.size(), 2u);
    EXPECT_EQ(locker.frames[0], fn("graphdemo::lock_leaf") + "() " + site("lock_leaf"));
    EXPECT_EQ(locker.frames[1], fn("graphdemo::lock_waiter") + "() " + site("lock_waiter"));
    const TreeTask& getter = tasks["getter-" + std::to_string(i)];
    EXPECT_EQ(getter.parent, "main");
    EXPECT_EQ(getter.waiting_on, "Queue.get");
    ASSERT_EQ(getter.frames.size(), 1u);
    EXPECT_EQ(getter.frames[0], fn("graphdemo::queue_getter") + "() " + site("queue_get"));
  }
  EXPECT_EQ(tasks["gatherer"].parent, "main");
  ASSERT_EQ(tasks["gatherer"].frames.size(), 1u);
  EXPECT_EQ(tasks["gatherer"].frames[0], fn("graphdemo::gatherer") + "() " + site("gatherer"));
  int sleepers = 0;
  for (const auto& [name, t] : tasks) {
    if (t.parent != "gatherer") continue;
    ++sleepers;
    EXPECT_EQ(t.waiting_on, "sleep");
    ASSERT_EQ(t.frames.size(), 1u);
    EXPECT_EQ(t.frames[0], fn("graphdemo::sleeper") + "() " + site("sleeper"));
  }
  EXPECT_EQ(sleepers, 3);
  EXPECT_EQ(tasks["waitfor"].parent, "main");
  EXPECT_EQ(tasks["waitfor"].waiting_on, "Task 'timed'");
  ASSERT_FALSE(tasks["waitfor"].frames.empty());
  EXPECT_EQ(tasks["waitfor"].frames.back(),
            fn("graphdemo::wait_for_user") + "() " + site("wait_for"));
  EXPECT_EQ(tasks["timed"].parent, "waitfor");
  EXPECT_EQ(tasks["timed"].waiting_on, "Event.wait");
  EXPECT_EQ(tasks["shielder"].parent, "main");
  EXPECT_EQ(tasks["shielder"].waiting_on, "Future");
  EXPECT_EQ(tasks["shielded"].parent, "shielder");
  ASSERT_EQ(tasks["shielded"].frames.size(), 1u);
  EXPECT_EQ(tasks["shielded"].frames[0], fn("graphdemo::shielded") + "() " + site("shielded"));
  // main: group_body inside task_group inside main_coro.
  const TreeTask& main = tasks["main"];
  ASSERT_EQ(main.frames.size(), 3u);
  EXPECT_EQ(main.frames[0].rfind(fn("graphdemo::group_body") + "() ", 0), 0u) << main.frames[0];
  EXPECT_NE(main.frames[1].find(fn("asyncio::task_group")), std::string::npos) << main.frames[1];
  EXPECT_EQ(main.frames[2], fn("graphdemo::main_coro") + "() " + site("main"));
  EXPECT_EQ(main.frames[0], fn("graphdemo::group_body") + "() " + site(main_at));
}

// ---- Route 1: capture_call_graph / format_call_graph / print_call_graph ----------------------

TEST(CallGraph, CaptureMatchesTheProgram) {
  bool ran = false;
  graphdemo::run([&](graphdemo::World&) {
    ran = true;
    // A lock waiter: two frames, innermost first, awaited by main through the TaskGroup.
    std::optional<FutureCallGraph> g = asyncio::capture_call_graph(find_task("locker-3"));
    ASSERT_TRUE(g);
    EXPECT_EQ(g->future.get_name(), "locker-3");
    ASSERT_EQ(g->call_stack.size(), 2u);
    expect_frame(g->call_stack[0], fn("graphdemo::lock_leaf"), "lock_leaf");
    expect_frame(g->call_stack[1], fn("graphdemo::lock_waiter"), "lock_waiter");
    EXPECT_EQ(g->waiting_on, "Lock.acquire");
    ASSERT_EQ(names_of(g->awaited_by), std::vector<std::string>{"main"});
    const FutureCallGraph& main = g->awaited_by[0];
    ASSERT_EQ(main.call_stack.size(), 3u);
    EXPECT_EQ(main.call_stack[0].function, fn("graphdemo::group_body"));
    EXPECT_NE(main.call_stack[1].function.find(fn("asyncio::task_group")), std::string::npos);
    expect_frame(main.call_stack[2], fn("graphdemo::main_coro"), "main");
    EXPECT_TRUE(main.awaited_by.empty());

    // gather: each sleeper is awaited by the gatherer, which is awaited by main.
    for (const AnyTask& t : asyncio::all_tasks()) {
      auto sg = asyncio::capture_call_graph(t);
      ASSERT_TRUE(sg);
      if (sg->call_stack.empty() || sg->call_stack[0].function != fn("graphdemo::sleeper"))
        continue;
      expect_frame(sg->call_stack[0], fn("graphdemo::sleeper"), "sleeper");
      EXPECT_EQ(sg->waiting_on, "sleep");
      ASSERT_EQ(names_of(sg->awaited_by), std::vector<std::string>{"gatherer"});
      expect_frame(sg->awaited_by[0].call_stack.at(0), fn("graphdemo::gatherer"), "gatherer");
      EXPECT_EQ(names_of(sg->awaited_by[0].awaited_by), std::vector<std::string>{"main"});
    }

    // wait_for(task): the timed task is awaited by "waitfor", whose stack goes through
    // asyncio::wait_for down from wait_for_user.
    auto timed = asyncio::capture_call_graph(find_task("timed"));
    ASSERT_TRUE(timed);
    expect_frame(timed->call_stack.at(0), fn("graphdemo::event_waiter"), "event_waiter");
    EXPECT_EQ(timed->waiting_on, "Event.wait");
    ASSERT_EQ(names_of(timed->awaited_by), std::vector<std::string>{"waitfor"});
    const auto& wf = timed->awaited_by[0];
    EXPECT_EQ(wf.waiting_on, "Task 'timed'");
    expect_frame(wf.call_stack.back(), fn("graphdemo::wait_for_user"), "wait_for");
    bool through_wait_for = false;
    // wait_for() hands its work to the coroutine detail::wait_for_impl (any awaitable).
    for (const auto& e : wf.call_stack)
      through_wait_for |= e.function == fn("asyncio::detail::wait_for_impl");
    EXPECT_TRUE(through_wait_for);

    // shield: the shielded task is awaited by the task that called shield().
    auto sh = asyncio::capture_call_graph(find_task("shielded"));
    ASSERT_TRUE(sh);
    expect_frame(sh->call_stack.at(0), fn("graphdemo::shielded"), "shielded");
    ASSERT_EQ(names_of(sh->awaited_by), std::vector<std::string>{"shielder"});
    expect_frame(sh->awaited_by[0].call_stack.at(0), fn("graphdemo::shield_user"), "shield_user");

    // A queue getter.
    auto qg = asyncio::capture_call_graph(find_task("getter-0"));
    ASSERT_TRUE(qg);
    expect_frame(qg->call_stack.at(0), fn("graphdemo::queue_getter"), "queue_get");
    EXPECT_EQ(qg->waiting_on, "Queue.get");

    // The printed form: Python 3.14's layout.
    const std::string text = asyncio::format_call_graph(find_task("locker-3"));
    const std::string expected_head = "* Task(name='locker-3', id=" + std::string() /* id varies */;
    EXPECT_EQ(text.rfind(expected_head, 0), 0u) << text;
    EXPECT_NE(text.find("\n  + Call stack:\n  |   File '" + kScenario + "', line " +
                        std::to_string(marker("lock_leaf")) + ", in async " +
                        fn("graphdemo::lock_leaf") + "()\n  |   File '" + kScenario + "', line " +
                        std::to_string(marker("lock_waiter")) + ", in async " +
                        fn("graphdemo::lock_waiter") +
                        "()\n  + Waiting on: Lock.acquire\n"
                        "  + Awaited by:\n    * Task(name='main', id="),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("\n      + Call stack:\n      |   File '"), std::string::npos) << text;
  });
  EXPECT_TRUE(ran);
}

TEST(CallGraph, CurrentTaskShowsTheCallingLine) {
  asyncio::run([]() -> Coro<void> {
    co_await asyncio::sleep(0s);
    const unsigned line = __LINE__ + 1;
    std::optional<FutureCallGraph> g = asyncio::capture_call_graph();
    EXPECT_TRUE(g);
    if (!g) co_return;
    EXPECT_EQ(g->future.get_name(), asyncio::current_task().get_name());
    EXPECT_FALSE(g->call_stack.empty());
    if (g->call_stack.empty()) co_return;
    EXPECT_EQ(g->call_stack[0].line, line);
    EXPECT_EQ(g->call_stack[0].file, __FILE__);
    EXPECT_TRUE(g->awaited_by.empty());
    // limit: 0 keeps no entry (Python: only "awaited by" information).
    auto none = asyncio::capture_call_graph({}, 0);
    EXPECT_TRUE(none && none->call_stack.empty());
  }());
}

TEST(CallGraph, OutsideALoop) {
  // Python: RuntimeError when no loop runs and no future is given.
  EXPECT_THROW(asyncio::capture_call_graph(), asyncio::RuntimeError);
  try {
    asyncio::capture_call_graph();
  } catch (const asyncio::RuntimeError& e) {
    EXPECT_STREQ(e.what(),
                 "capture_call_graph() is called outside of a running event loop and no "
                 "*future* to introspect was provided");
  }
}

TEST(CallGraph, NotStartedTaskHasNoFrames) {
  asyncio::run([]() -> Coro<void> {
    auto t = asyncio::create_task(graphdemo::sleeper(), "later");
    auto g = asyncio::capture_call_graph(t);
    EXPECT_TRUE(g && g->call_stack.empty());
    EXPECT_EQ(asyncio::format_call_graph(t).find("* Task(name='later', id=0x"), 0u);
    t.cancel();
    co_await asyncio::sleep(0s);
  }());
}

// ---- Route 2: the tree (format_all_tasks), in the program --------------------------------------

TEST(CallGraph, FormatAllTasksIsTheTree) {
  std::string tree;
  graphdemo::run([&](graphdemo::World&) { tree = asyncio::format_all_tasks(); });
  EXPECT_EQ(tree.rfind("asyncio: 29 pending tasks of loop 0x", 0), 0u) << tree;
  EXPECT_NE(tree.find("(T) Task(name='main', id=0x"), std::string::npos);
  EXPECT_NE(tree.find("pending (running), age "), std::string::npos) << tree;
  check_tree(tree, "group_body");
}

TEST(CallGraph, TreeShowsCancelling) {
  asyncio::run([]() -> Coro<void> {
    asyncio::Event never;
    auto t = asyncio::create_task(
        [](asyncio::Event& e) -> Coro<void> {
          bool cancelled = false;
          try {
            co_await e.wait();
          } catch (const asyncio::CancelledError&) {
            cancelled = true;
          }
          // Still pending, with one cancellation request.
          if (cancelled) co_await asyncio::sleep(0s);
        }(never),
        "victim");
    co_await asyncio::sleep(0s);
    t.cancel();
    co_await asyncio::sleep(0s);
    const std::string tree = asyncio::format_all_tasks();
    EXPECT_NE(tree.find("(T) Task(name='victim', id="), std::string::npos) << tree;
    EXPECT_NE(tree.find(") cancelling 1, age "), std::string::npos) << tree;
    co_await t;
  }());
}

// ---- Route 3: the signal dump ---------------------------------------------------------------

/// Runs `f` with fd 2 redirected to a temporary file; returns what was written there.
template <class F>
std::string capture_stderr(F&& f) {
  std::fflush(stderr);
  char path[] = "/tmp/asyncio_graph_stderr_XXXXXX";
  int fd = ::mkstemp(path);
  EXPECT_GE(fd, 0);
  int saved = ::dup(2);
  ::dup2(fd, 2);
  f();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  ::close(fd);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  ::unlink(path);
  return ss.str();
}

TEST(CallGraph, SignalDumpPrintsTheTree) {
  std::string dump = capture_stderr([] {
    graphdemo::run(
        [](graphdemo::World&) {
          asyncio::enable_task_dump(SIGUSR1);
          // As `kill -USR1 <pid>` from outside: the dump happens at the loop's next iteration,
          // while every task (main included) is suspended.
          ::kill(::getpid(), SIGUSR1);
        },
        /*settle=*/3);
  });
  EXPECT_EQ(dump.rfind("asyncio: 29 pending tasks of loop 0x", 0), 0u) << dump;
  check_tree(dump, "settle");
}

TEST(CallGraph, DisableTaskDump) {
  asyncio::EventLoop loop;
  EXPECT_FALSE(asyncio::disable_task_dump(loop, SIGUSR2));
  asyncio::enable_task_dump(loop, SIGUSR2);
  EXPECT_TRUE(asyncio::disable_task_dump(loop, SIGUSR2));
  loop.close();
}

// ---- Error reports and the slow-callback warning name where the task waits and was created --

Coro<void> wait_forever(asyncio::Event& e) {
  co_await e.wait();  // the await site the reports name
}
const unsigned kWaitForeverLine = __LINE__ - 2;

Coro<void> fail_at_once() {
  co_await asyncio::sleep(0s);
  throw std::runtime_error("boom");
}

std::string here(unsigned line) {
  return std::string(__FILE__) + ":" + std::to_string(line);
}

TEST(CallGraphReports, DestroyedPendingTaskNamesItsAwaitAndCreation) {
  asyncio::EventLoop loop;
  std::vector<asyncio::ExceptionContext> reports;
  loop.set_exception_handler(
      [&](asyncio::EventLoop&, const asyncio::ExceptionContext& c) { reports.push_back(c); });
  asyncio::Event never;
  unsigned created = 0;
  loop.run_until_complete([&]() -> Coro<void> {
    created = __LINE__ + 1;
    asyncio::create_task(wait_forever(never), "orphan");
    co_await asyncio::sleep(0s);
  }());
  loop.close();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message, "Task was destroyed but it is pending!");
  EXPECT_EQ(reports[0].task, "Task 'orphan' coro=<" + fn("(anonymous namespace)::wait_forever") +
                                 "() running at " + here(kWaitForeverLine) + "> created at " +
                                 here(created));
}

TEST(CallGraphReports, NeverRetrievedNamesTheCreationSite) {
  asyncio::EventLoop loop;
  std::vector<asyncio::ExceptionContext> reports;
  loop.set_exception_handler(
      [&](asyncio::EventLoop&, const asyncio::ExceptionContext& c) { reports.push_back(c); });
  unsigned created = 0;
  loop.run_until_complete([&]() -> Coro<void> {
    created = __LINE__ + 1;
    asyncio::create_task(fail_at_once(), "dropped");
    for (int i = 0; i < 3; ++i) co_await asyncio::sleep(0s);
  }());
  loop.close();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message, "Task exception was never retrieved");
  EXPECT_EQ(reports[0].task, "Task 'dropped' created at " + here(created));
}

TEST(CallGraphReports, SlowCallbackWarningNamesTheTask) {
  std::string err = capture_stderr([] {
    asyncio::EventLoop loop;
    loop.set_debug(true);
    loop.set_slow_callback_duration(asyncio::Duration(0));  // every step is "slow"
    asyncio::Event never;
    loop.run_until_complete([&]() -> Coro<void> {
      auto t = asyncio::create_task(wait_forever(never), "sluggish");
      co_await asyncio::sleep(0s);
      co_await asyncio::sleep(0s);
      t.cancel();
      co_await asyncio::sleep(0s);
    }());
    loop.close();
  });
  EXPECT_NE(err.find("asyncio: Executing <Task 'sluggish' coro=<" +
                     fn("(anonymous namespace)::wait_forever") + "() running at " +
                     here(kWaitForeverLine) + "> created at "),
            std::string::npos)
      << err;
}

// ---- Route 4: gdb ----------------------------------------------------------------------------

/// The program gdb looks at: the scenario, stopping with SIGTRAP once every task waits. Does
/// nothing unless ASYNCIO_GDB_TARGET is set (GraphGdb runs it under gdb with it set).
TEST(GraphGdbTarget, StopsForDebugger) {
  if (std::getenv("ASYNCIO_GDB_TARGET") == nullptr) return;
  graphdemo::run([](graphdemo::World&) { ::raise(SIGTRAP); });
}

std::string run_command(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ::pclose(p);
  return out;
}

std::string gdb_path() {
  for (const char* dir : {"/usr/bin/gdb", "/usr/local/bin/gdb", "/bin/gdb"}) {
    if (::access(dir, X_OK) == 0) return dir;
  }
  return {};
}

/// The `asyncio bt locker-3` output must show its chain and main awaiting it.
void check_bt(const std::string& out) {
  SCOPED_TRACE(out);
  EXPECT_NE(out.find("* Task(name='locker-3', id=0x"), std::string::npos);
  EXPECT_NE(
      out.find("  + Call stack:\n  |   File '" + kScenario + "', line " +
               std::to_string(marker("lock_leaf")) + ", in async " + fn("graphdemo::lock_leaf") +
               "()\n  |   File '" + kScenario + "', line " + std::to_string(marker("lock_waiter")) +
               ", in async " + fn("graphdemo::lock_waiter") +
               "()\n  + Waiting on: Lock.acquire\n"
               "  + Awaited by:\n    * Task(name='main', id=0x"),
      std::string::npos);
  EXPECT_NE(out.find("in async " + fn("graphdemo::main_coro") + "()"), std::string::npos);
}

/// The part of gdb's output between two markers echoed around a command.
std::string between(const std::string& out, const std::string& a, const std::string& b) {
  std::size_t i = out.find(a);
  std::size_t j = out.find(b, i == std::string::npos ? 0 : i);
  if (i == std::string::npos || j == std::string::npos) return {};
  return out.substr(i + a.size(), j - i - a.size());
}

TEST(GraphGdb, PsAndBtOnLiveProcessAndCore) {
  const std::string gdb = gdb_path();
  if (gdb.empty()) GTEST_SKIP() << "gdb is not installed (scripts/install-deps.sh installs it)";
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string ext = std::string(ASYNCIO_SOURCE_DIR) + "/tools/gdb/asyncio.py";
  const std::string core = "/tmp/asyncio_graph_gdb_" + std::to_string(::getpid()) + ".core";
  const std::string common = gdb + " -nx -batch -ex 'set debuginfod enabled off' " +
                             "-ex 'set confirm off' -ex 'source " + ext + "' ";
  const std::string commands = "-ex 'echo @@PS\\n' -ex 'asyncio ps' -ex 'echo @@BT\\n' " +
                               std::string("-ex 'asyncio bt locker-3' -ex 'echo @@END\\n' ");
  // Live: run the target under gdb; it stops on SIGTRAP with every task waiting.
  const std::string live = run_command("ASYNCIO_GDB_TARGET=1 " + common + "-ex run " + commands +
                                       "-ex 'gcore " + core + "' " + "-ex kill --args " + exe +
                                       " --gtest_filter=GraphGdbTarget.StopsForDebugger 2>&1");
  if (live.find("ptrace") != std::string::npos && live.find("@@PS") == std::string::npos) {
    GTEST_SKIP() << "gdb cannot trace processes here:\n" << live;
  }
  check_tree(between(live, "@@PS\n", "@@BT\n"), "group_body");
  check_bt(between(live, "@@BT\n", "@@END\n"));

  // The core file written by gcore: the same, with no process at all.
  ASSERT_TRUE(std::filesystem::exists(core)) << live;
#if defined(__SANITIZE_ADDRESS__)
  // gcore of an AddressSanitizer process leaves out the allocator's regions (the tasks): the
  // core route is checked by the plain builds.
  std::filesystem::remove(core);
  return;
#endif
  const std::string post = run_command(common + commands + exe + " " + core + " 2>&1");
  std::filesystem::remove(core);
  check_tree(between(post, "@@PS\n", "@@BT\n"), "group_body");
  check_bt(between(post, "@@BT\n", "@@END\n"));
}

}  // namespace
