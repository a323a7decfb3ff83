// asyncio/subprocess.hpp — running programs without blocking the loop (Python:
// asyncio.subprocess, asyncio.base_subprocess and the subprocess half of asyncio.unix_events).
//
// High level (Python: asyncio.create_subprocess_exec / create_subprocess_shell, Process):
//
//   asyncio::Process p = co_await asyncio::create_subprocess_exec(
//       "ls", "-l", "/tmp", asyncio::SubprocessOptions{.stdout = asyncio::PIPE});
//   while (true) {
//     std::string line = co_await p.stdout->readline();   // "" at EOF (a StreamReader)
//     if (line.empty()) break;
//     ...
//   }
//   int code = co_await p.wait();                          // 0, or -9 if killed by SIGKILL
//
//   auto p2 = co_await asyncio::create_subprocess_shell(
//       "sort | uniq -c", {.stdin = asyncio::PIPE, .stdout = asyncio::PIPE});
//   auto [out, err] = co_await p2.communicate("b\na\nb\n");  // writes stdin while reading
//
// Low level (Python: loop.subprocess_exec / loop.subprocess_shell with a SubprocessProtocol):
//
//   struct Collect : asyncio::SubprocessProtocol {
//     std::string out;
//     void pipe_data_received(int, std::span<const std::byte> data) override {
//       out += asyncio::Protocol::as_chars(data);
//     }
//     void process_exited() override { ... }
//   };
//   auto [transport, protocol] = co_await asyncio::subprocess_exec(
//       [] { return std::make_shared<Collect>(); }, "echo", "hi");
//   int code = co_await transport->wait();
//
// How it works (Linux):
//   - Spawning uses posix_spawn (glibc: clone(CLONE_VM | CLONE_VFORK) + exec), which runs no
//     fork handlers and copies no address space, so it is safe and fast in multithreaded
//     programs. Every pipe is created close-on-exec (pipe2(O_CLOEXEC)), so a child spawned
//     concurrently by another thread never inherits the wrong pipe end (which would keep a
//     pipe open and hide EOF). File actions connect the child's fds 0/1/2, pass `pass_fds`,
//     close every other fd ≥ 3 (close_fds, as Python's default) and change directory (cwd).
//     SIGPIPE and SIGXFSZ get their default disposition in the child (Python's
//     restore_signals=True); the signal mask is inherited, as with Python.
//   - A missing program throws asyncio::FileNotFoundError ("cannot run 'prog': No such file
//     or directory") from `co_await create_subprocess_*()`, which never suspends: glibc's
//     posix_spawn reports exec failures to the parent synchronously.
//   - Exits are watched with a pidfd per child (see "Child watching" in unix_events.hpp):
//     no SIGCHLD handler, no waitpid(-1), no stolen exit statuses, no zombies.
//   - The child's pipes are ReadPipeTransport / WritePipeTransport (unix_pipes.hpp): data is
//     read as it arrives and handed to the protocol directly from the loop's poll phase.
//     Process::stdin/stdout/stderr are the StreamWriter/StreamReader of asyncio/streams.hpp
//     over those transports, with the same flow control as sockets (a reader more than twice
//     its limit behind pauses the pipe, so a chatty child blocks instead of filling memory).
//
// Lifetimes: a SubprocessTransport keeps itself alive while the child runs or its pipes are
// open (Python: the child watcher references it), so dropping a Process does not kill the
// child. When the loop closes with the child still running, the child is killed and reaped
// in the background. A Process and its transport are loop-thread objects.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "asyncio/coroutines.hpp"
#include "asyncio/events.hpp"
#include "asyncio/futures.hpp"
#include "asyncio/net_errors.hpp"
#include "asyncio/protocols.hpp"
#include "asyncio/streams.hpp"
#include "asyncio/transports.hpp"
#include "asyncio/unix_events.hpp"
#include "asyncio/unix_pipes.hpp"

namespace asyncio {

// ---- Options -------------------------------------------------------------------------------

/// Where a child's stdin, stdout or stderr goes (Python: subprocess.PIPE, DEVNULL, STDOUT,
/// None, or a file descriptor).
class Stdio {
 public:
  /// What the child's stream is connected to.
  enum class Kind : std::uint8_t {
    Default,  ///< not given: PIPE for subprocess_exec/shell, INHERIT for create_subprocess_*
    Inherit,  ///< the child shares this process's fd (Python: None)
    Pipe,     ///< a new pipe; the parent's end becomes a stream / pipe transport
    DevNull,  ///< /dev/null
    Stdout,   ///< stderr only: the same as the child's stdout (2>&1)
    Fd,       ///< a copy of one of this process's open fds
  };
  constexpr Stdio() noexcept = default;
  /// One of the Kind choices (PIPE, DEVNULL, STDOUT and INHERIT are such values).
  constexpr Stdio(Kind kind) noexcept : kind_(kind) {}  // NOLINT: implicit by design
  /// The child gets a copy of `fd`, an open fd of this process (Python: passing an int).
  constexpr Stdio(int fd) noexcept : kind_(Kind::Fd), fd_(fd) {}  // NOLINT

  /// The choice made.
  /// C++ only (no Python counterpart).
  constexpr Kind kind() const noexcept { return kind_; }
  /// The fd for Kind::Fd, else -1.
  /// C++ only (no Python counterpart).
  constexpr int fd() const noexcept { return fd_; }
  /// Same kind and fd.
  friend constexpr bool operator==(Stdio, Stdio) noexcept = default;

 private:
  Kind kind_ = Kind::Default;
  int fd_ = -1;
};

/// Python: subprocess.PIPE, DEVNULL, STDOUT; INHERIT is Python's None.
inline constexpr Stdio PIPE{Stdio::Kind::Pipe};
inline constexpr Stdio DEVNULL{Stdio::Kind::DevNull};  ///< Python: subprocess.DEVNULL.
inline constexpr Stdio STDOUT{Stdio::Kind::Stdout};    ///< Python: subprocess.STDOUT.
inline constexpr Stdio INHERIT{Stdio::Kind::Inherit};  ///< Python: None (inherit the fd).

/// The keyword arguments of create_subprocess_exec() & co. Use designated initializers, in
/// this order: `{.stdin = asyncio::PIPE, .stdout = asyncio::PIPE, .cwd = "/tmp"}`. (The member
/// names are Python's; glibc defines stdin/stdout/stderr as macros expanding to themselves, so
/// they work as member names.)
///
/// The members are VIEWS of the caller's data (string_view, span, a reference to a map),
/// copied when create_subprocess_*() / subprocess_*() is called: whatever they refer to only
/// has to live until that call returns. So `{.cwd = dir}` and `{.cwd = path.string()}` are
/// fine inside the call expression, but a named SubprocessOptions must not be initialized
/// from temporaries (`SubprocessOptions o{.cwd = path.string()};` dangles, as any
/// string_view). Why views: g++ 12 destroys an aggregate temporary that owns memory twice
/// when it appears in a co_await expression (a compiler bug), which is exactly how options
/// are written: `co_await create_subprocess_exec("pwd", {}, {.cwd = "/tmp"})`. A trivially
/// destructible aggregate is immune.
struct SubprocessOptions {
  Stdio stdin{};   ///< the child's fd 0 (Python: stdin=)
  Stdio stdout{};  ///< the child's fd 1 (Python: stdout=)
  Stdio stderr{};  ///< may be STDOUT (into the same place as stdout)
  /// Working directory of the child; a relative program path is resolved from it.
  std::optional<std::string_view> cwd{};
  /// The child's whole environment (Python: env=), a map that outlives the call: `.env =
  /// vars` (binding a temporary map does not compile). Unset: this process's environment.
  /// When set, its PATH (or /bin:/usr/bin without one) is where the program is looked up, as
  /// Python does. current_environment() gives this process's environment to extend.
  std::optional<std::reference_wrapper<const std::map<std::string, std::string>>> env{};
  /// setsid() in the child (Python: start_new_session=True).
  bool start_new_session = false;
  /// setpgid(0, group) in the child; 0 makes a new group (Python 3.11: process_group). A
  /// negative value sets nothing, as in Python.
  std::optional<pid_t> process_group{};
  /// Open fds of this process to keep open, at the same numbers, in the child (Python:
  /// pass_fds). E.g. `int keep[] = {fd};` then `.pass_fds = keep`. A negative fd is
  /// ValueError("bad value(s) in fds_to_keep"), one that is not open OSError(EBADF).
  std::span<const int> pass_fds{};
  /// Close every other fd ≥ 3 in the child (Python's default, close_fds=True).
  bool close_fds = true;
  /// The program actually run; argv[0] stays the program name given (Python: executable=).
  /// For the shell functions: the shell instead of /bin/sh.
  std::optional<std::string_view> executable{};
  /// create_subprocess_*: the buffer limit of the stdout/stderr readers (Python: limit=,
  /// default 64 KiB): readline() fails beyond it, and reading from the pipe pauses while
  /// more than twice as much is buffered unread.
  std::size_t limit = 64 * 1024;
};
static_assert(std::is_trivially_destructible_v<SubprocessOptions>,
              "SubprocessOptions must stay trivially destructible (see above)");

namespace detail {

/// An owning copy of SubprocessOptions, with Stdio::Kind::Default resolved.
struct SpawnOptions {
  SpawnOptions(const SubprocessOptions& o, Stdio::Kind default_kind);

  Stdio stdio[3];
  std::optional<std::string> cwd;
  std::optional<std::map<std::string, std::string>> env;
  bool start_new_session;
  std::optional<pid_t> process_group;
  std::vector<int> pass_fds;
  bool close_fds;
  std::optional<std::string> executable;
  std::size_t limit;
};

}  // namespace detail

/// This process's environment as a map, to copy and extend for SubprocessOptions::env.
/// Python: os.environ.
std::map<std::string, std::string> current_environment();

/// No such process (Python: ProcessLookupError, ESRCH): signalling a process whose
/// transport already finished.
class ProcessLookupError : public OSError {
 public:
  using OSError::OSError;
};

// ---- Low level: protocol and transport -----------------------------------------------------

class SubprocessTransport;

/// Receives a child's events (Python: asyncio.SubprocessProtocol, a BaseProtocol). Methods
/// run on the loop's thread; exceptions they throw go to the loop's exception handler.
/// Default: do nothing. Order: connection_made, then pipe_data_received/pipe_connection_lost
/// per pipe and process_exited in the order they happen, and connection_lost last (after the
/// child exited and every pipe closed). pause_writing()/resume_writing() (from BaseProtocol)
/// report the flow control of the child's stdin pipe.
class SubprocessProtocol : public BaseProtocol {
 public:
  /// The child runs; `transport` is its SubprocessTransport (valid until connection_lost()).
  /// Python: SubprocessProtocol.connection_made().
  virtual void connection_made(SubprocessTransport& transport) { (void)transport; }
  /// The child wrote to its stdout (fd 1) or stderr (fd 2). `data` is valid during the call
  /// only (Protocol::as_chars(data) views it as characters).
  /// Python: SubprocessProtocol.pipe_data_received().
  virtual void pipe_data_received(int fd, std::span<const std::byte> data) {
    (void)fd;
    (void)data;
  }
  /// One of the child's pipes closed (EOF, close(), or an error in `exc`).
  /// Python: SubprocessProtocol.pipe_connection_lost().
  virtual void pipe_connection_lost(int fd, std::exception_ptr exc) {
    (void)fd;
    (void)exc;
  }
  /// The child exited; its return code is transport.get_returncode().
  /// Python: SubprocessProtocol.process_exited().
  virtual void process_exited() {}
};

/// A running (or finished) child process (Python: asyncio.SubprocessTransport, a
/// BaseTransport). Held by std::shared_ptr. Only the loop's thread may use it.
class SubprocessTransport : public BaseTransport {
 public:
  /// The child's process id (Python: SubprocessTransport.get_pid()).
  virtual pid_t get_pid() const noexcept = 0;
  /// The exit code, -N if killed by signal N; nullopt while the child runs.
  /// Python: SubprocessTransport.get_returncode().
  virtual std::optional<int> get_returncode() const noexcept = 0;
  /// The transport of the child's fd 0 (a WritePipeTransport), 1 or 2 (ReadPipeTransports)
  /// when that stream is a PIPE; else nullptr.
  /// Python: SubprocessTransport.get_pipe_transport().
  virtual PipeTransport* get_pipe_transport(int fd) const noexcept = 0;
  /// Sends `sig` to the child. Does nothing if the child has exited (its pid may be reused).
  /// Throws ProcessLookupError once the transport has finished (Python: _check_proc()).
  virtual void send_signal(int sig) = 0;
  /// send_signal(SIGTERM) (Python: SubprocessTransport.terminate()).
  void terminate() { send_signal(SIGTERM); }
  /// send_signal(SIGKILL) (Python: SubprocessTransport.kill()).
  void kill() { send_signal(SIGKILL); }
  /// Waits until the child has exited and returns its return code (Python: the private
  /// _wait() behind Process.wait(): immediate if the code is known, else it waits until the
  /// transport finished, i.e. the pipes are closed too). Cancellable.
  virtual Coro<int> wait() = 0;
  // From BaseTransport: close() closes the pipes and kills the child (SIGKILL) if it still
  // runs; is_closing(); get_protocol()/set_protocol() (a SubprocessProtocol, else
  // ValueError); get_extra_info("subprocess") gives the pid (pid_t).
};

namespace detail {

/// Spawns the child and builds its transport (Python: _make_subprocess_transport), on `loop`.
/// connection_made() has run on return.
std::shared_ptr<SubprocessTransport> start_subprocess(EventLoop& loop,
                                                      std::shared_ptr<SubprocessProtocol> protocol,
                                                      std::vector<std::string> argv,
                                                      const SpawnOptions& options);

/// {"/bin/sh", "-c", cmd} (or options.executable instead of /bin/sh).
std::vector<std::string> shell_argv(std::string cmd, const SpawnOptions& options);

template <class Factory>
using protocol_ptr_t = std::invoke_result_t<Factory&>;

template <class Factory>
void check_protocol_factory() {
  using Ptr = protocol_ptr_t<Factory>;
  static_assert(std::is_convertible_v<Ptr, std::shared_ptr<SubprocessProtocol>>,
                "the factory must return std::shared_ptr<P>, P derived from SubprocessProtocol");
}

template <class Factory>
auto subprocess_coro(Factory factory, std::vector<std::string> argv, SpawnOptions options)
    -> Coro<std::pair<std::shared_ptr<SubprocessTransport>, protocol_ptr_t<Factory>>> {
  EventLoop& loop = get_running_loop();
  auto protocol = factory();
  auto transport = start_subprocess(loop, protocol, std::move(argv), options);
  co_return std::pair{std::move(transport), std::move(protocol)};
}

template <class T>
inline constexpr bool is_options_v = std::is_same_v<std::remove_cvref_t<T>, SubprocessOptions>;
template <class T>
inline constexpr bool is_arg_v = std::is_convertible_v<const T&, std::string_view>;

/// Python's `program, *args, **kwargs`: string-like arguments, optionally ending with the
/// SubprocessOptions.
template <class... A>
constexpr bool valid_exec_args() {
  constexpr std::size_t n = sizeof...(A);
  std::size_t i = 0;
  bool ok = true;
  ((ok = ok && (is_arg_v<A> || (is_options_v<A> && i == n - 1)), ++i), ...);
  return ok;
}

struct ExecArgs {
  std::vector<std::string> args;
  SubprocessOptions options;
};

template <class... A>
ExecArgs collect_exec_args(A&&... a) {
  ExecArgs r;
  r.args.reserve(sizeof...(A));
  (
      [&](auto&& x) {
        if constexpr (is_options_v<decltype(x)>) {
          r.options = std::forward<decltype(x)>(x);
        } else {
          r.args.emplace_back(std::string_view(x));
        }
      }(std::forward<A>(a)),
      ...);
  return r;
}

/// A string-like argument of the exec functions (std::string, std::string_view, const char*,
/// ...).
template <class T>
concept ExecArg = is_arg_v<std::remove_cvref_t<T>>;

/// The program and the arguments as owned strings.
template <class P, class... A>
std::pair<std::string, std::vector<std::string>> exec_strings(const P& program, const A&... args) {
  std::vector<std::string> argv;
  argv.reserve(sizeof...(A));
  (argv.emplace_back(std::string_view(args)), ...);
  return {std::string(std::string_view(program)), std::move(argv)};
}

}  // namespace detail

/// Runs `program` with `args` (Python: loop.subprocess_exec(factory, program, *args, ...)).
/// Unset stdin/stdout/stderr are PIPEs here, as in Python. Returns once the child runs and
/// connection_made() was called. Throws FileNotFoundError if the program does not exist.
template <class Factory>
auto subprocess_exec(Factory factory, std::string program, std::vector<std::string> args = {},
                     SubprocessOptions options = {}) {
  detail::check_protocol_factory<Factory>();
  args.insert(args.begin(), std::move(program));
  return detail::subprocess_coro(std::move(factory), std::move(args),
                                 detail::SpawnOptions(options, Stdio::Kind::Pipe));
}

/// subprocess_exec(factory, "prog", "arg1", "arg2", SubprocessOptions{...}): the arguments
/// one by one, as in Python (see create_subprocess_exec for why this form exists).
template <class Factory, class... Args>
requires(sizeof...(Args) > 0) auto subprocess_exec(Factory factory, std::string_view program,
                                                   Args&&... args) {
  static_assert(detail::valid_exec_args<Args...>(),
                "asyncio::subprocess_exec(factory, program, args..., options): every argument "
                "must convert to std::string_view and only the last may be an "
                "asyncio::SubprocessOptions; the forms: (\"prog\", \"a\", ..., {.stdout = "
                "asyncio::PIPE}) with at most 8 "
                "arguments, (\"prog\", \"a\", ..., asyncio::SubprocessOptions{...}), "
                "(\"prog\", std::vector<std::string>{...}, asyncio::SubprocessOptions{...})");
  detail::ExecArgs a = detail::collect_exec_args(std::forward<Args>(args)...);
  return subprocess_exec(std::move(factory), std::string(program), std::move(a.args),
                         std::move(a.options));
}

/// subprocess_exec(factory, "prog", "arg1", ..., {.stdout = asyncio::PIPE}): up to 8
/// arguments one by one, then the options as a braced list (as create_subprocess_exec).
/// Python: loop.subprocess_exec(protocol_factory, program, *args, **kwds).
template <class Factory, detail::ExecArg P>
auto subprocess_exec(Factory factory, P&& program, SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program);
  return subprocess_exec(std::move(factory), std::move(prog), std::move(argv), options);
}
/// The same with more arguments before the braced options (Python:
/// loop.subprocess_exec(protocol_factory, program, *args, **kwds)).
template <class Factory, detail::ExecArg P, detail::ExecArg A1>
auto subprocess_exec(Factory factory, P&& program, A1&& a1, SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program, a1);
  return subprocess_exec(std::move(factory), std::move(prog), std::move(argv), options);
}
/// The same with more arguments before the braced options (Python:
/// loop.subprocess_exec(protocol_factory, program, *args, **kwds)).
template <class Factory, detail::ExecArg P, detail::ExecArg A1, detail::ExecArg A2>
auto subprocess_exec(Factory factory, P&& program, A1&& a1, A2&& a2, SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program, a1, a2);
  return subprocess_exec(std::move(factory), std::move(prog), std::move(argv), options);
}
/// The same with more arguments before the braced options (Python:
/// loop.subprocess_exec(protocol_factory, program, *args, **kwds)).
template <class Factory, detail::ExecArg P, detail::ExecArg A1, detail::ExecArg A2,
          detail::ExecArg A3>
auto subprocess_exec(Factory factory, P&& program, A1&& a1, A2&& a2, A3&& a3,
                     SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program, a1, a2, a3);
  return subprocess_exec(std::move(factory), std::move(prog), std::move(argv), options);
}
/// The same with more arguments before the braced options (Python:
/// loop.subprocess_exec(protocol_factory, program, *args, **kwds)).
template <class Factory, detail::ExecArg P, detail::ExecArg A1, detail::ExecArg A2,
          detail::ExecArg A3, detail::ExecArg A4>
auto subprocess_exec(Factory factory, P&& program, A1&& a1, A2&& a2, A3&& a3, A4&& a4,
                     SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program, a1, a2, a3, a4);
  return subprocess_exec(std::move(factory), std::move(prog), std::move(argv), options);
}
/// The same with more arguments before the braced options (Python:
/// loop.subprocess_exec(protocol_factory, program, *args, **kwds)).
template <class Factory, detail::ExecArg P, detail::ExecArg A1, detail::ExecArg A2,
          detail::ExecArg A3, detail::ExecArg A4, detail::ExecArg A5>
auto subprocess_exec(Factory factory, P&& program, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5,
                     SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program, a1, a2, a3, a4, a5);
  return subprocess_exec(std::move(factory), std::move(prog), std::move(argv), options);
}
/// The same with more arguments before the braced options (Python:
/// loop.subprocess_exec(protocol_factory, program, *args, **kwds)).
template <class Factory, detail::ExecArg P, detail::ExecArg A1, detail::ExecArg A2,
          detail::ExecArg A3, detail::ExecArg A4, detail::ExecArg A5, detail::ExecArg A6>
auto subprocess_exec(Factory factory, P&& program, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5,
                     A6&& a6, SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program, a1, a2, a3, a4, a5, a6);
  return subprocess_exec(std::move(factory), std::move(prog), std::move(argv), options);
}
/// The same with more arguments before the braced options (Python:
/// loop.subprocess_exec(protocol_factory, program, *args, **kwds)).
template <class Factory, detail::ExecArg P, detail::ExecArg A1, detail::ExecArg A2,
          detail::ExecArg A3, detail::ExecArg A4, detail::ExecArg A5, detail::ExecArg A6,
          detail::ExecArg A7>
auto subprocess_exec(Factory factory, P&& program, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5,
                     A6&& a6, A7&& a7, SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program, a1, a2, a3, a4, a5, a6, a7);
  return subprocess_exec(std::move(factory), std::move(prog), std::move(argv), options);
}
/// The same with more arguments before the braced options (Python:
/// loop.subprocess_exec(protocol_factory, program, *args, **kwds)).
template <class Factory, detail::ExecArg P, detail::ExecArg A1, detail::ExecArg A2,
          detail::ExecArg A3, detail::ExecArg A4, detail::ExecArg A5, detail::ExecArg A6,
          detail::ExecArg A7, detail::ExecArg A8>
auto subprocess_exec(Factory factory, P&& program, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5,
                     A6&& a6, A7&& a7, A8&& a8, SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program, a1, a2, a3, a4, a5, a6, a7, a8);
  return subprocess_exec(std::move(factory), std::move(prog), std::move(argv), options);
}

/// Runs `cmd` with /bin/sh -c (Python: loop.subprocess_shell). Quote untrusted input!
template <class Factory>
auto subprocess_shell(Factory factory, std::string cmd, SubprocessOptions options = {}) {
  detail::check_protocol_factory<Factory>();
  detail::SpawnOptions owned(options, Stdio::Kind::Pipe);
  std::vector<std::string> argv = detail::shell_argv(std::move(cmd), owned);
  return detail::subprocess_coro(std::move(factory), std::move(argv), std::move(owned));
}

// ---- High level: Process -------------------------------------------------------------------

namespace detail {
class SubprocessStreamProtocol;
struct ProcessAccess;
}  // namespace detail

/// A child started by create_subprocess_exec/shell (Python: asyncio.subprocess.Process).
/// A handle: copies refer to the same child. Loop-thread only.
class Process {
 public:
  Process() = default;

  /// The child's process id.
  pid_t pid = -1;
  /// The child's stdin/stdout/stderr as streams when they are PIPEs, else empty (Python:
  /// None): `co_await p.stdout->readline()`, `p.stdin->write(data)`. Handles: copies share
  /// the stream. stdout/stderr readers have the `limit` of the options.
  std::optional<StreamWriter> stdin;
  std::optional<StreamReader> stdout;  ///< The child's stdout when a PIPE (Python: proc.stdout).
  std::optional<StreamReader> stderr;  ///< The child's stderr when a PIPE (Python: proc.stderr).

  /// nullopt while running; the exit code, or -N when killed by signal N.
  /// Python: Process.returncode.
  std::optional<int> returncode() const noexcept { return transport_->get_returncode(); }
  /// Waits for the child to exit; returns returncode(). Cancellable (the child keeps running).
  /// Note (as Python): with stdout=PIPE, a child writing more than the pipe holds blocks
  /// until someone reads; use communicate() then.
  Coro<int> wait() const { return transport_->wait(); }
  /// Writes `input` to stdin (if it is a PIPE) and closes it, while reading stdout and stderr
  /// (if PIPEs) to EOF, concurrently — so neither side can fill up and deadlock — then waits
  /// for the exit. Returns {stdout data, stderr data} ("" for streams that are not PIPEs;
  /// Python: None). A child that stops reading its stdin early is not an error.
  /// Cancellable: the child keeps running.
  Coro<std::pair<std::string, std::string>> communicate(std::string input = {}) const;
  /// Sends `sig` (Python: send_signal); terminate() sends SIGTERM, kill() SIGKILL. Nothing
  /// happens if the child already exited. Throws ProcessLookupError once it is all over.
  void send_signal(int sig) const { transport_->send_signal(sig); }
  /// Sends SIGTERM (Python: Process.terminate()).
  void terminate() const { transport_->terminate(); }
  /// Sends SIGKILL (Python: Process.kill()).
  void kill() const { transport_->kill(); }

  /// The underlying transport.
  /// Python: Process._transport.
  const std::shared_ptr<SubprocessTransport>& transport() const noexcept { return transport_; }
  /// Whether this refers to a process (false when default-constructed).
  explicit operator bool() const noexcept { return static_cast<bool>(transport_); }

 private:
  friend struct detail::ProcessAccess;
  std::shared_ptr<SubprocessTransport> transport_;
  std::shared_ptr<detail::SubprocessStreamProtocol> protocol_;
};

/// Runs `program` with `args` (Python: asyncio.create_subprocess_exec(program, *args, ...)).
/// The program is looked up in PATH unless it contains '/'. Unset stdin/stdout/stderr are
/// inherited. Throws FileNotFoundError if there is no such program, OSError for other spawn
/// failures (e.g. EACCES), ValueError for invalid options. Before anything is spawned, as
/// Python: ValueError("illegal environment variable name") for an env name that is empty or
/// holds '=', then ValueError("embedded null byte") for a NUL in the program, an argument,
/// `executable`, `cwd`, an env name or value (the shell command too, for _shell).
Coro<Process> create_subprocess_exec(std::string program, std::vector<std::string> args = {},
                                     SubprocessOptions options = {});

/// Python's form: the arguments one by one, then optionally the options (which must then be
/// spelled as a SubprocessOptions object):
///
///   co_await asyncio::create_subprocess_exec("ls", "-l", dir);
///   co_await asyncio::create_subprocess_exec("sh", "-c", cmd,
///                                            asyncio::SubprocessOptions{.stdout = asyncio::PIPE});
///
/// Prefer it to a braced list (`create_subprocess_exec("ls", {"-l", dir})`), which g++ 12
/// rejects inside a co_await expression ("array used as initializer", a compiler bug; clang
/// accepts it). The arguments are copied at once, so temporaries are fine.
///
/// A call whose arguments fit none of the forms fails with a static_assert naming the forms
/// (arguments that are not strings, options not last), or, for a braced list that is not a
/// SubprocessOptions initializer, with g++'s "'asyncio::SubprocessOptions' has no non-static
/// data member named ..." (the braced form below).
template <class... Args>
requires(sizeof...(Args) > 0) Coro<Process> create_subprocess_exec(std::string_view program,
                                                                   Args&&... args) {
  static_assert(detail::valid_exec_args<Args...>(),
                "asyncio::create_subprocess_exec(program, args..., options): every argument must "
                "convert to std::string_view and only the last may be an "
                "asyncio::SubprocessOptions; the forms: (\"prog\", \"a\", ..., {.stdout = "
                "asyncio::PIPE}) with at most 8 "
                "arguments, (\"prog\", \"a\", ..., asyncio::SubprocessOptions{...}), "
                "(\"prog\", std::vector<std::string>{...}, asyncio::SubprocessOptions{...})");
  detail::ExecArgs a = detail::collect_exec_args(std::forward<Args>(args)...);
  return create_subprocess_exec(std::string(program), std::move(a.args), std::move(a.options));
}

/// create_subprocess_exec("prog", "arg1", ..., {.stdout = asyncio::PIPE}): up to 8 arguments
/// one by one, then the options as a braced list, exactly like create_subprocess_shell(cmd,
/// {...}) and the network functions. (A braced list cannot end a variadic argument list in
/// C++, hence one overload per count; with more arguments spell SubprocessOptions{...} or
/// pass a std::vector.)
/// Python: asyncio.create_subprocess_exec(program, *args, **kwds).
template <detail::ExecArg P>
Coro<Process> create_subprocess_exec(P&& program, SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program);
  return create_subprocess_exec(std::move(prog), std::move(argv), options);
}
/// The same with more arguments before the braced options (Python:
/// asyncio.create_subprocess_exec(program, *args, **kwds)).
template <detail::ExecArg P, detail::ExecArg A1>
Coro<Process> create_subprocess_exec(P&& program, A1&& a1, SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program, a1);
  return create_subprocess_exec(std::move(prog), std::move(argv), options);
}
/// The same with more arguments before the braced options (Python:
/// asyncio.create_subprocess_exec(program, *args, **kwds)).
template <detail::ExecArg P, detail::ExecArg A1, detail::ExecArg A2>
Coro<Process> create_subprocess_exec(P&& program, A1&& a1, A2&& a2, SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program, a1, a2);
  return create_subprocess_exec(std::move(prog), std::move(argv), options);
}
/// The same with more arguments before the braced options (Python:
/// asyncio.create_subprocess_exec(program, *args, **kwds)).
template <detail::ExecArg P, detail::ExecArg A1, detail::ExecArg A2, detail::ExecArg A3>
Coro<Process> create_subprocess_exec(P&& program, A1&& a1, A2&& a2, A3&& a3,
                                     SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program, a1, a2, a3);
  return create_subprocess_exec(std::move(prog), std::move(argv), options);
}
/// The same with more arguments before the braced options (Python:
/// asyncio.create_subprocess_exec(program, *args, **kwds)).
template <detail::ExecArg P, detail::ExecArg A1, detail::ExecArg A2, detail::ExecArg A3,
          detail::ExecArg A4>
Coro<Process> create_subprocess_exec(P&& program, A1&& a1, A2&& a2, A3&& a3, A4&& a4,
                                     SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program, a1, a2, a3, a4);
  return create_subprocess_exec(std::move(prog), std::move(argv), options);
}
/// The same with more arguments before the braced options (Python:
/// asyncio.create_subprocess_exec(program, *args, **kwds)).
template <detail::ExecArg P, detail::ExecArg A1, detail::ExecArg A2, detail::ExecArg A3,
          detail::ExecArg A4, detail::ExecArg A5>
Coro<Process> create_subprocess_exec(P&& program, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5,
                                     SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program, a1, a2, a3, a4, a5);
  return create_subprocess_exec(std::move(prog), std::move(argv), options);
}
/// The same with more arguments before the braced options (Python:
/// asyncio.create_subprocess_exec(program, *args, **kwds)).
template <detail::ExecArg P, detail::ExecArg A1, detail::ExecArg A2, detail::ExecArg A3,
          detail::ExecArg A4, detail::ExecArg A5, detail::ExecArg A6>
Coro<Process> create_subprocess_exec(P&& program, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5,
                                     A6&& a6, SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program, a1, a2, a3, a4, a5, a6);
  return create_subprocess_exec(std::move(prog), std::move(argv), options);
}
/// The same with more arguments before the braced options (Python:
/// asyncio.create_subprocess_exec(program, *args, **kwds)).
template <detail::ExecArg P, detail::ExecArg A1, detail::ExecArg A2, detail::ExecArg A3,
          detail::ExecArg A4, detail::ExecArg A5, detail::ExecArg A6, detail::ExecArg A7>
Coro<Process> create_subprocess_exec(P&& program, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5,
                                     A6&& a6, A7&& a7, SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program, a1, a2, a3, a4, a5, a6, a7);
  return create_subprocess_exec(std::move(prog), std::move(argv), options);
}
/// The same with more arguments before the braced options (Python:
/// asyncio.create_subprocess_exec(program, *args, **kwds)).
template <detail::ExecArg P, detail::ExecArg A1, detail::ExecArg A2, detail::ExecArg A3,
          detail::ExecArg A4, detail::ExecArg A5, detail::ExecArg A6, detail::ExecArg A7,
          detail::ExecArg A8>
Coro<Process> create_subprocess_exec(P&& program, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5,
                                     A6&& a6, A7&& a7, A8&& a8, SubprocessOptions options) {
  auto [prog, argv] = detail::exec_strings(program, a1, a2, a3, a4, a5, a6, a7, a8);
  return create_subprocess_exec(std::move(prog), std::move(argv), options);
}

/// Runs `cmd` with /bin/sh -c (Python: asyncio.create_subprocess_shell).
Coro<Process> create_subprocess_shell(std::string cmd, SubprocessOptions options = {});

}  // namespace asyncio
