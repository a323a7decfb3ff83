// Process, create_subprocess_exec/shell and the protocol behind them (Python:
// asyncio.subprocess: SubprocessStreamProtocol, Process, create_subprocess_*).

#include "asyncio/subprocess.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "asyncio/gather.hpp"
#include "asyncio/tasks.hpp"
#include "unix_internal.hpp"

namespace asyncio {
namespace detail {

/// Connects a child's pipes to StreamReader/StreamWriter streams (Python:
/// asyncio.subprocess.SubprocessStreamProtocol). Each stream gets the networking layer's
/// StreamReaderProtocol as its flow-control partner: connection_made(pipe transport) lets the
/// stdout/stderr readers pause and resume their pipe (Python: reader.set_transport), and the
/// stdin writer's drain()/wait_closed() follow pause_writing/resume_writing/connection_lost
/// (Python: the FlowControlMixin and _stdin_closed of SubprocessStreamProtocol).
class SubprocessStreamProtocol final : public SubprocessProtocol {
 public:
  explicit SubprocessStreamProtocol(std::size_t limit) : limit_(limit) {
    if (limit == 0) throw ValueError("Limit cannot be <= 0");
  }

  void connection_made(SubprocessTransport& transport) override {
    transport_ = &transport;
    for (int fd : {1, 2}) {
      PipeTransport* pipe = transport.get_pipe_transport(fd);
      if (pipe == nullptr) continue;
      Reading& r = fd == 1 ? out_ : err_;
      r.reader.emplace(limit_);
      r.protocol = make_stream_reader_protocol(*r.reader);
      r.protocol->connection_made(*pipe);
      pipe_fds_.push_back(fd);
    }
    if (PipeTransport* pipe = transport.get_pipe_transport(0)) {
      stdin_protocol_ = make_stream_reader_protocol(StreamReader(limit_));
      stdin_protocol_->connection_made(*pipe);
      stdin_.emplace(
          make_stream_writer(std::static_pointer_cast<Transport>(pipe->shared_from_this()),
                             stdin_protocol_, std::nullopt));
    }
  }

  void pipe_data_received(int fd, std::span<const std::byte> data) override {
    Reading* r = reading(fd);
    if (r != nullptr && r->reader) r->reader->feed_data(data);
  }

  void pipe_connection_lost(int fd, std::exception_ptr exc) override {
    if (fd == 0) {
      if (stdin_) stdin_->close();
      connection_lost(exc);  // drain() fails from now on; wait_closed() returns
      return;
    }
    if (Reading* r = reading(fd); r != nullptr && r->protocol) {
      r->protocol->connection_lost(exc);  // feeds EOF, or the error, to the reader
    }
    pipe_fds_.erase(std::remove(pipe_fds_.begin(), pipe_fds_.end(), fd), pipe_fds_.end());
    maybe_close_transport();
  }

  void process_exited() override {
    process_exited_ = true;
    maybe_close_transport();
  }

  /// Python: FlowControlMixin.connection_lost (called for stdin's pipe_connection_lost and
  /// when the whole transport is done).
  void connection_lost(std::exception_ptr exc) override {
    if (stdin_protocol_ && !stdin_lost_) {
      stdin_lost_ = true;
      stdin_protocol_->connection_lost(exc);
    }
  }
  void pause_writing() override {
    if (stdin_protocol_) stdin_protocol_->pause_writing();
  }
  void resume_writing() override {
    if (stdin_protocol_) stdin_protocol_->resume_writing();
  }

  const std::optional<StreamWriter>& stdin_stream() const noexcept { return stdin_; }
  const std::optional<StreamReader>& stdout_stream() const noexcept { return out_.reader; }
  const std::optional<StreamReader>& stderr_stream() const noexcept { return err_.reader; }

 private:
  struct Reading {
    std::optional<StreamReader> reader;
    std::shared_ptr<Protocol> protocol;
  };

  Reading* reading(int fd) noexcept { return fd == 1 ? &out_ : fd == 2 ? &err_ : nullptr; }

  void maybe_close_transport() {
    if (pipe_fds_.empty() && process_exited_ && transport_ != nullptr) {
      std::exchange(transport_, nullptr)->close();
    }
  }

  std::size_t limit_;
  SubprocessTransport* transport_ = nullptr;
  Reading out_;
  Reading err_;
  std::optional<StreamWriter> stdin_;
  std::shared_ptr<Protocol> stdin_protocol_;
  bool stdin_lost_ = false;
  std::vector<int> pipe_fds_;
  bool process_exited_ = false;
};

struct ProcessAccess {
  static Process make(std::shared_ptr<SubprocessTransport> transport,
                      std::shared_ptr<SubprocessStreamProtocol> protocol) {
    Process p;
    p.pid = transport->get_pid();
    p.stdin = protocol->stdin_stream();
    p.stdout = protocol->stdout_stream();
    p.stderr = protocol->stderr_stream();
    p.transport_ = std::move(transport);
    p.protocol_ = std::move(protocol);
    return p;
  }
};

}  // namespace detail

namespace {

// The pieces of communicate() (Python: Process._feed_stdin, _read_stream, _noop). Each takes
// a Process copy, so the child's streams stay alive while it runs.

Coro<void> feed_stdin(Process p, std::string input) {
  try {
    if (!input.empty()) p.stdin->write(std::string_view(input));
    co_await p.stdin->drain();
  } catch (const BrokenPipeError&) {
    // The child stopped reading: communicate() ignores it, as Python does.
  } catch (const ConnectionResetError&) {
  }
  p.stdin->close();
}

Coro<void> noop() {
  co_return;
}

Coro<std::string> read_stream(Process p, int fd) {
  StreamReader& stream = fd == 1 ? *p.stdout : *p.stderr;
  std::string output = co_await stream.read();
  if (PipeTransport* t = p.transport()->get_pipe_transport(fd)) t->close();
  co_return output;
}

Coro<std::string> no_output() {
  co_return std::string();
}

Coro<std::pair<std::string, std::string>> communicate_impl(Process p, std::string input) {
  // Named, not `?:` temporaries inside the co_await: g++ 12 destroys those twice.
  Coro<void> writing = p.stdin ? feed_stdin(p, std::move(input)) : noop();
  Coro<std::string> reading_out = p.stdout ? read_stream(p, 1) : no_output();
  Coro<std::string> reading_err = p.stderr ? read_stream(p, 2) : no_output();
  auto [ignored, out, err] =
      co_await gather(std::move(writing), std::move(reading_out), std::move(reading_err));
  (void)ignored;
  co_await p.wait();
  co_return std::pair{std::move(out), std::move(err)};
}

}  // namespace

Coro<std::pair<std::string, std::string>> Process::communicate(std::string input) const {
  return communicate_impl(*this, std::move(input));
}

namespace {

/// Python: create_subprocess_exec/shell's body, on owned arguments.
Coro<Process> create_process(std::vector<std::string> argv, detail::SpawnOptions options) {
  EventLoop& loop = get_running_loop();
  auto protocol = std::make_shared<detail::SubprocessStreamProtocol>(options.limit);
  auto transport = detail::start_subprocess(loop, protocol, std::move(argv), options);
  co_return detail::ProcessAccess::make(std::move(transport), std::move(protocol));
}

}  // namespace

// Not coroutines themselves: the arguments are copied before anything else, so that the
// caller's temporaries (and views) only need to live for the call.
Coro<Process> create_subprocess_exec(std::string program, std::vector<std::string> args,
                                     SubprocessOptions options) {
  args.insert(args.begin(), std::move(program));
  return create_process(std::move(args), detail::SpawnOptions(options, Stdio::Kind::Inherit));
}

Coro<Process> create_subprocess_shell(std::string cmd, SubprocessOptions options) {
  detail::SpawnOptions owned(options, Stdio::Kind::Inherit);
  std::vector<std::string> argv = detail::shell_argv(std::move(cmd), owned);
  return create_process(std::move(argv), std::move(owned));
}

}  // namespace asyncio
