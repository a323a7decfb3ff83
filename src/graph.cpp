// Async call graphs: capture_call_graph / format_call_graph / print_call_graph, the task tree
// (format_all_tasks), the signal-triggered dump, and the loop list a debugger reads.
//
// Nothing here runs on a hot path: the data it reads is maintained by Coro (await_site,
// callee: coroutines.hpp), TaskBase (awaited_by_, creation data: task_base.hpp) and the
// awaiters (Suspension::awaited_future / describe_wait).

#include "asyncio/graph.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <set>

#include "asyncio/detail/loop_registry.hpp"

namespace asyncio {
namespace detail {

// ---- The loops a debugger can find ----------------------------------------------------------

/// Slots for tools/gdb/asyncio.py: every live EventLoop, null where free. A plain array of
/// pointers so that a debugger reads it from a core file without calling into the process.
/// More than kDebugLoopSlots live loops at once: the extra ones are not listed (only gdb
/// cares; the in-process functions take the loop directly).
constexpr std::size_t kDebugLoopSlots = 64;
[[gnu::used]] EventLoop* debug_loops[kDebugLoopSlots] = {};

namespace {
std::mutex debug_loops_mutex;
}  // namespace

void debug_register_loop(EventLoop* loop) noexcept {
  std::lock_guard lock(debug_loops_mutex);
  for (EventLoop*& slot : debug_loops) {
    if (slot == nullptr) {
      slot = loop;
      return;
    }
  }
}

void debug_unregister_loop(EventLoop* loop) noexcept {
  std::lock_guard lock(debug_loops_mutex);
  for (EventLoop*& slot : debug_loops) {
    if (slot == loop) slot = nullptr;
  }
}

// ---- Names and sites ------------------------------------------------------------------------

namespace {

/// Drops a leading return type: the name starts after the last space outside brackets.
std::string strip_return_type(const std::string& name) {
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '<' || c == '(' || c == '[' || c == '{') ++depth;
    if (c == '>' || c == ')' || c == ']' || c == '}') --depth;
    if (c == ' ' && depth == 0) start = i + 1;
  }
  return name.substr(start);
}

/// Drops parameter lists and template arguments, keeping lambda names ("{lambda()#1}"),
/// "(anonymous namespace)" and "operator()": "ns::f<int>(int)::{lambda()#1}::operator()()"
/// becomes "ns::f::{lambda()#1}::operator()".
std::string simplify(const std::string& name) {
  std::string out;
  int depth = 0;  // inside (...) or <...> being dropped
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (depth == 0) {
      if (c == '{') {  // a lambda or unnamed type: copy verbatim
        std::size_t close = name.find('}', i);
        if (close == std::string::npos) close = name.size() - 1;
        out.append(name, i, close - i + 1);
        i = close;
        continue;
      }
      if (c == '(' && name.compare(i, 21, "(anonymous namespace)") == 0) {
        out += "(anonymous namespace)";
        i += 20;
        continue;
      }
      const bool after_operator =
          out.size() >= 8 && out.compare(out.size() - 8, 8, "operator") == 0;
      if (after_operator && name.compare(i, 2, "()") == 0) {
        out += "()";
        ++i;
        continue;
      }
      if ((c == '(' || c == '<') && !after_operator) {
        depth = 1;
        continue;
      }
      out += c;
    } else {
      if (c == '(' || c == '<') ++depth;
      if (c == ')' || c == '>') --depth;
    }
  }
  return out;
}

std::string demangle(const std::string& mangled) {
  int status = 0;
  char* out = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
  if (status != 0 || out == nullptr) return {};
  std::string result(out);
  std::free(out);
  return result;
}

}  // namespace

std::string readable_function_name(const char* function_name) {
  if (function_name == nullptr || *function_name == '\0') return "?";
  std::string name(function_name);
  // GCC names the body of coroutine `ns::f(int)` "R ns::f(ns::f(int)::_ZN2ns1fEi.Frame*)":
  // the mangled name inside is the function's own, demangled it is exactly "ns::f(int)".
  std::size_t frame = name.rfind(".Frame*)");  // the last: template arguments may hold others
  std::size_t mangled = name.rfind("::_Z", frame);
  if (frame != std::string::npos && mangled != std::string::npos) {
    std::string demangled = demangle(name.substr(mangled + 2, frame - mangled - 2));
    if (!demangled.empty()) name = std::move(demangled);
  }
  // Qualifiers of a member function (a lambda's "operator()() const") are not part of its name.
  for (const char* q : {" const", " volatile", " &&", " &", " noexcept"}) {
    const std::size_t n = std::strlen(q);
    while (name.size() > n && name.compare(name.size() - n, n, q) == 0)
      name.resize(name.size() - n);
  }
  return simplify(strip_return_type(name));
}

std::string site_string(const AwaitSite& site) {
  if (site.line() == 0) return {};
  return std::string(site.file_name()) + ":" + std::to_string(site.line());
}

namespace {

/// The promise of a Coro frame: at offset 16, after the resume and destroy pointers (GCC and
/// Clang layout; CoroPromise asserts the alignment that makes it so).
const CoroPromiseBase* coro_promise(std::coroutine_handle<> h) noexcept {
  if (!h) return nullptr;
  return &std::coroutine_handle<CoroPromiseBase>::from_address(h.address()).promise();
}

FrameCallGraphEntry entry_for(const AwaitSite& site) {
  FrameCallGraphEntry e;
  if (site.line() != 0) {
    e.function = readable_function_name(site.function_name());
    e.file = site.file_name();
    e.line = site.line();
  } else {
    e.function = "?";
  }
  return e;
}

/// Root first, innermost last: the live chain, following `callee` down from the root.
std::vector<const CoroPromiseBase*> coroutine_chain(const TaskBase& task) {
  std::vector<const CoroPromiseBase*> chain;
  for (const CoroPromiseBase* p = coro_promise(task.root()); p != nullptr; p = p->callee) {
    chain.push_back(p);
    if (chain.size() > 100000) break;  // a corrupted chain must not hang a debugging aid
  }
  return chain;
}

std::vector<FrameCallGraphEntry> call_stack_of(const TaskBase& task, bool running,
                                               const AwaitSite& call_site) {
  std::vector<FrameCallGraphEntry> stack;
  std::vector<const CoroPromiseBase*> chain = coroutine_chain(task);
  if (!chain.empty() && chain.front()->await_site.line() == 0 && !running) {
    return stack;  // not started yet: no frame has a location (Python shows the def line)
  }
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    stack.push_back(entry_for((*it)->await_site));
  }
  if (running && call_site.line() != 0) {
    // The innermost coroutine is running: it is at the line that asked, not at its last
    // co_await. A plain function called by it shows as an extra, innermost entry.
    FrameCallGraphEntry here = entry_for(call_site);
    if (!stack.empty() && stack.front().function == here.function) {
      stack.front() = std::move(here);
    } else {
      stack.insert(stack.begin(), std::move(here));
    }
  }
  return stack;
}

void apply_limit(std::vector<FrameCallGraphEntry>& stack, std::optional<int> limit) {
  if (!limit) return;
  const std::size_t n = static_cast<std::size_t>(*limit < 0 ? -*limit : *limit);
  if (stack.size() <= n) return;
  if (*limit >= 0) {
    stack.resize(n);  // innermost entries
  } else {
    stack.erase(stack.begin(), stack.end() - static_cast<std::ptrdiff_t>(n));  // outermost
  }
}

/// Pending tasks of `loop`, in creation order.
std::vector<TaskBase*> pending_tasks(EventLoop& loop) {
  std::vector<TaskBase*> tasks;
  LoopAccess::pending_tasks(loop).for_each(
      [&](PendingTask* t) { tasks.push_back(static_cast<TaskBase*>(t)); });
  return tasks;
}

/// The tasks waiting for `task`: its structured parent (if still pending) and every task
/// suspended on it directly. No duplicates; in the order of `pending`.
std::vector<TaskBase*> parents_of(const TaskBase& task, const std::vector<TaskBase*>& pending) {
  std::vector<TaskBase*> parents;
  for (TaskBase* t : pending) {
    if (t == &task) continue;
    const bool structured = task.awaited_by() == t;
    const bool direct = t->waiter() != nullptr &&
                        t->waiter()->awaited_future() == static_cast<const FutureBase*>(&task);
    if (structured || direct) parents.push_back(t);
  }
  return parents;
}

std::string waiting_on(const TaskBase& task) {
  return task.waiter() ? task.waiter()->describe_wait() : std::string();
}

FutureCallGraph build(TaskBase& task, const std::vector<TaskBase*>& pending,
                      std::optional<int> limit, std::set<const TaskBase*>& path, bool running,
                      const AwaitSite& call_site) {
  FutureCallGraph g;
  g.future = AnyTask(Ref<TaskBase>(&task));
  g.call_stack = call_stack_of(task, running, call_site);
  apply_limit(g.call_stack, limit);
  g.waiting_on = waiting_on(task);
  path.insert(&task);
  for (TaskBase* parent : parents_of(task, pending)) {
    if (path.count(parent) != 0) continue;  // a cycle (a task awaiting its own waiter)
    g.awaited_by.push_back(build(*parent, pending, limit, path, false, call_site));
  }
  path.erase(&task);
  return g;
}

std::string hex_id(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#" PRIxPTR, reinterpret_cast<std::uintptr_t>(p));
  return buf;
}

/// Python's repr of a str: single quotes unless the text contains one and no double quote.
std::string py_repr(const std::string& s) {
  const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = dq ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == '\\' || c == q) out += '\\';
    out += c;
  }
  out += q;
  return out;
}

std::string frame_line(const FrameCallGraphEntry& e) {
  return "File " + py_repr(e.file) + ", line " + std::to_string(e.line) + ", in async " +
         e.function + "()";
}

void render_level(const FutureCallGraph& g, std::vector<std::string>& buf, int level) {
  const std::string indent(static_cast<std::size_t>(level) * 4, ' ');
  auto add_line = [&](const std::string& line) { buf.push_back(indent + line); };
  add_line("* Task(name=" + py_repr(g.future.get_name()) + ", id=" + hex_id(g.future.impl()) + ")");
  if (!g.call_stack.empty()) {
    add_line("  + Call stack:");
    for (const FrameCallGraphEntry& e : g.call_stack) add_line("  |   " + frame_line(e));
  }
  if (!g.waiting_on.empty()) add_line("  + Waiting on: " + g.waiting_on);  // C++ addition
  if (!g.awaited_by.empty()) {
    add_line("  + Awaited by:");
    for (const FutureCallGraph& parent : g.awaited_by) render_level(parent, buf, level + 1);
  }
}

}  // namespace

void add_awaited_by_current_task(FutureBase& child) noexcept {
  EventLoop* loop = running_loop;
  if (loop == nullptr || !child.is_task() || &child.loop() != loop) return;
  if (TaskBase* current = LoopAccess::current_task(*loop)) {
    static_cast<TaskBase&>(child).set_awaited_by(current);
  }
}

}  // namespace detail

std::string detail::TaskBase::describe_for_report() const {
  return describe_task_for_report(*this);
}

namespace detail {

std::string describe_task_for_report(const TaskBase& task) {
  std::string s = task.describe_self();
  std::vector<const CoroPromiseBase*> chain = coroutine_chain(task);
  if (!chain.empty() && chain.back()->await_site.line() != 0) {
    const AwaitSite& site = chain.back()->await_site;
    s += " coro=<" + readable_function_name(site.function_name()) + "() running at " +
         site_string(site) + ">";
  }
  if (task.creation_site().line() != 0) s += " created at " + site_string(task.creation_site());
  return s;
}

}  // namespace detail

// ---- capture / format / print ---------------------------------------------------------------

std::optional<FutureCallGraph> capture_call_graph(const AnyTask& task, std::optional<int> limit,
                                                  detail::AwaitSite call_site) {
  EventLoop* running = detail::running_loop;
  AnyTask target = task;
  if (!target.valid()) {
    if (running == nullptr) {
      throw RuntimeError(
          "capture_call_graph() is called outside of a running event loop and no *future* to "
          "introspect was provided");
    }
    target = current_task();
    if (!target.valid()) return std::nullopt;
  }
  detail::TaskBase& impl = *target.impl();
  const bool is_current = running != nullptr && detail::LoopAccess::current_task(*running) == &impl;
  std::vector<detail::TaskBase*> pending = detail::pending_tasks(impl.loop());
  std::set<const detail::TaskBase*> path;
  return detail::build(impl, pending, limit, path, is_current, call_site);
}

std::string format_call_graph(const FutureCallGraph& graph) {
  std::vector<std::string> buf;
  detail::render_level(graph, buf, 0);
  std::string out;
  for (std::size_t i = 0; i < buf.size(); ++i) {
    if (i != 0) out += '\n';
    out += buf[i];
  }
  return out;
}

std::string format_call_graph(const AnyTask& task, std::optional<int> limit,
                              detail::AwaitSite call_site) {
  std::optional<FutureCallGraph> graph = capture_call_graph(task, limit, call_site);
  return graph ? format_call_graph(*graph) : std::string();
}

void print_call_graph(const AnyTask& task, std::FILE* file, std::optional<int> limit,
                      detail::AwaitSite call_site) {
  std::optional<FutureCallGraph> graph = capture_call_graph(task, limit, call_site);
  if (!graph) return;
  std::string text = format_call_graph(*graph) + "\n";
  std::fputs(text.c_str(), file ? file : stdout);
}

// ---- All tasks: the tree ---------------------------------------------------------------------

namespace detail {
namespace {

std::string task_header(const TaskBase& task, EventLoop& loop) {
  char age[48];
  const double seconds = static_cast<double>(LoopAccess::now_ns(loop) - task.created_ns()) / 1e9;
  std::snprintf(age, sizeof age, "%.3fs", seconds);
  std::string s = "(T) Task(name=" + py_repr(task.name()) + ", id=" + hex_id(&task) + ") ";
  s += task.cancelling() > 0 ? "cancelling " + std::to_string(task.cancelling()) : "pending";
  if (LoopAccess::current_task(loop) == &task) s += " (running)";
  if (task.created_ns() != 0) {  // see TaskBase::start
    s += ", age ";
    s += age;
  }
  std::string waits = waiting_on(task);
  if (!waits.empty()) s += ", waiting on " + waits;
  return s;
}

struct TreeNode {
  TaskBase* task;
  std::vector<TaskBase*> parents;
  std::vector<std::size_t> children;
  bool placed = false;
};

void render_tree(std::vector<TreeNode>& nodes, std::size_t i, const std::string& prefix, bool last,
                 EventLoop& loop, std::string& out) {
  TreeNode& node = nodes[i];
  node.placed = true;
  out += prefix + (last ? "\u2514\u2500\u2500 " : "\u251c\u2500\u2500 ") +
         task_header(*node.task, loop) + "\n";
  const std::string inner = prefix + (last ? "    " : "\u2502   ");
  const std::string bar = node.children.empty() ? "    " : "\u2502   ";
  AwaitSite none{};
  for (const FrameCallGraphEntry& e : call_stack_of(*node.task, false, none)) {
    out += inner + bar + "at " + e.function + "() " +
           (e.line != 0 ? e.file + ":" + std::to_string(e.line) : std::string("?")) + "\n";
  }
  for (std::size_t k = 1; k < node.parents.size(); ++k) {
    out += inner + bar + "also awaited by " + node.parents[k]->name() + "\n";
  }
  for (std::size_t k = 0; k < node.children.size(); ++k) {
    std::size_t c = node.children[k];
    if (nodes[c].placed) continue;
    render_tree(nodes, c, inner, k + 1 == node.children.size(), loop, out);
  }
}

}  // namespace
}  // namespace detail

std::string format_all_tasks(EventLoop& loop) {
  using namespace detail;
  std::vector<TaskBase*> pending = pending_tasks(loop);
  std::vector<TreeNode> nodes;
  nodes.reserve(pending.size());
  for (TaskBase* t : pending) nodes.push_back({t, parents_of(*t, pending), {}});
  auto index_of = [&](const TaskBase* t) {
    return static_cast<std::size_t>(std::find(pending.begin(), pending.end(), t) - pending.begin());
  };
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (!nodes[i].parents.empty()) nodes[index_of(nodes[i].parents.front())].children.push_back(i);
  }
  std::string out = "asyncio: " + std::to_string(pending.size()) + " pending task" +
                    (pending.size() == 1 ? "" : "s") + " of loop " + hex_id(&loop) + "\n";
  std::vector<std::size_t> roots;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].parents.empty()) roots.push_back(i);
  }
  for (std::size_t k = 0; k < roots.size(); ++k) {
    render_tree(nodes, roots[k], "", k + 1 == roots.size(), loop, out);
  }
  // Tasks only reachable through a cycle of waits (each awaiting another): shown as roots.
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (!nodes[i].placed) render_tree(nodes, i, "", true, loop, out);
  }
  return out;
}

std::string format_all_tasks() {
  return format_all_tasks(get_running_loop());
}

// ---- The signal-triggered dump ----------------------------------------------------------------

void enable_task_dump(EventLoop& loop, int signum) {
  // A signal handler of the loop runs from its ready queue, on the loop's thread, at the next
  // iteration: it reads the tasks while none of them runs, and stops nothing.
  loop.add_signal_handler(signum, [&loop] {
    const std::string text = format_all_tasks(loop);
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
  });
}

void enable_task_dump(int signum) {
  enable_task_dump(get_running_loop(), signum);
}

bool disable_task_dump(EventLoop& loop, int signum) {
  return loop.remove_signal_handler(signum);
}

}  // namespace asyncio
