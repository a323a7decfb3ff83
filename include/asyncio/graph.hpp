// asyncio/graph.hpp — async call graphs (Python 3.14: asyncio.graph, `python -m asyncio
// ps/pstree`).
//
//   asyncio::print_call_graph();              // the current task, from inside it
//   asyncio::print_call_graph(task);          // any task of the running loop
//   std::cout << asyncio::format_all_tasks(); // every task of the loop, as a tree
//   asyncio::enable_task_dump(SIGUSR1);       // `kill -USR1 <pid>` prints that tree on stderr
//
// A task's call stack is its chain of coroutines, innermost first, each at its co_await
// (file, line, function), as recorded by Coro's await_transform when ASYNCIO_CALL_GRAPH is on
// (the default in debug builds, see asyncio/detail/await_site.hpp). awaited_by lists the tasks
// waiting for it: a task awaiting it directly (co_await task, wait_for(task), wait()), and
// the structured parents that Python records with future_add_to_awaited_by (the task that
// created a TaskGroup child, called gather() or shield()).
//
// From a debugger or a core file: tools/gdb/asyncio.py (`asyncio ps`, `asyncio bt`), see
// docs/debugging.md.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "asyncio/tasks.hpp"

namespace asyncio {

/// One coroutine of a call stack (Python: FrameCallGraphEntry; Python holds a frame object,
/// here its readable parts).
struct FrameCallGraphEntry {
  std::string function;  ///< Readable qualified name, e.g. "worker" or "ns::Server::serve".
  std::string file;      ///< Source file of the co_await ("" if not recorded).
  unsigned line = 0;     ///< Line of the co_await; 0 if not recorded (not started / option off).
};

/// A task's call graph (Python: FutureCallGraph).
struct FutureCallGraph {
  AnyTask future;                               ///< The task (Python: `future`).
  std::vector<FrameCallGraphEntry> call_stack;  ///< Innermost first.
  std::vector<FutureCallGraph> awaited_by;      ///< The tasks waiting for it, each with its graph.
  /// C++ addition: what the task is suspended on ("Lock.acquire", "Queue.get", "sock_recv
  /// fd=7", "Task 'Task-3'", "sleep"), empty if it is running or scheduled.
  std::string waiting_on;
};

/// The call graph of `task`, or of the current task when `task` is empty (Python:
/// asyncio.capture_call_graph). For the current task the innermost entry is the line that
/// called this function. Returns nullopt when `task` is empty and no task is running; throws
/// RuntimeError when `task` is empty and no loop is running (Python's message).
/// `limit` (Python's keyword): at most |limit| entries per stack, the innermost if positive,
/// the outermost if negative; 0 keeps none; nullopt keeps all.
std::optional<FutureCallGraph> capture_call_graph(
    const AnyTask& task = {}, std::optional<int> limit = std::nullopt,
    detail::AwaitSite call_site = ASYNCIO_DETAIL_CALLER_SITE);

/// The printed form of capture_call_graph() (Python 3.14: asyncio.format_call_graph): Python's
/// exact layout, with C++ function names. Empty string when there is nothing to show.
std::string format_call_graph(const AnyTask& task = {}, std::optional<int> limit = std::nullopt,
                              detail::AwaitSite call_site = ASYNCIO_DETAIL_CALLER_SITE);
/// Renders a captured graph in that layout (Python: format_call_graph of a captured graph).
std::string format_call_graph(const FutureCallGraph& graph);

/// Writes format_call_graph() and a newline to `file` (Python: asyncio.print_call_graph).
void print_call_graph(const AnyTask& task = {}, std::FILE* file = stdout,
                      std::optional<int> limit = std::nullopt,
                      detail::AwaitSite call_site = ASYNCIO_DETAIL_CALLER_SITE);

/// Every pending task of `loop` as a tree by who awaits whom (Python 3.14: `python -m asyncio
/// pstree PID`, from inside the program): each task with its state (pending / cancelling N),
/// age, what it waits on and its call stack; a task awaited by several is shown under its
/// first parent and names the others.
std::string format_all_tasks(EventLoop& loop);
/// format_all_tasks() of the running loop (Python 3.14: `python -m asyncio pstree`).
std::string format_all_tasks();

/// Opt-in dump from outside the program: after this, signal `signum` (e.g. SIGUSR1) makes
/// `loop` print format_all_tasks() on stderr at its next iteration, without stopping anything.
/// Uses loop.add_signal_handler (so the same rules apply: main thread, Unix signals).
/// C++ only (Python 3.14 reads another process's memory for `python -m asyncio ps PID`).
void enable_task_dump(EventLoop& loop, int signum);
/// enable_task_dump() on the running loop. C++ only.
void enable_task_dump(int signum);
/// Removes the dump handler; returns false if none was installed. C++ only.
bool disable_task_dump(EventLoop& loop, int signum);

namespace detail {
/// A readable coroutine name from a source_location function name: GCC's
/// "asyncio::Coro<int> ns::f(ns::f(int)::_Z...Frame*)" becomes "ns::f".
std::string readable_function_name(const char* function_name);
/// "file:line" of a site, or "" if not recorded.
std::string site_string(const AwaitSite& site);
/// "Task 'name' coro=<f() running at file:line>" plus " created at file:line": Python's task
/// repr in debug-mode reports (destroyed pending task, exception never retrieved).
std::string describe_task_for_report(const TaskBase& task);
}  // namespace detail

}  // namespace asyncio
