// The subprocess transport (Python: base_subprocess.BaseSubprocessTransport with
// unix_events._UnixSubprocessTransport, and loop._make_subprocess_transport).

#include <signal.h>
#include <unistd.h>

#include <any>
#include <cerrno>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "asyncio/futures.hpp"
#include "asyncio/subprocess.hpp"
#include "asyncio/tasks.hpp"
#include "unix_internal.hpp"

namespace asyncio::detail {
namespace {

class UnixSubprocessTransport;

/// The protocol of one of the child's pipes (Python: ReadSubprocessPipeProto /
/// WriteSubprocessPipeProto): forwards to the subprocess transport.
struct PipeProxy final : Protocol {
  UnixSubprocessTransport* proc = nullptr;
  int fd = -1;
  bool disconnected = false;
  std::shared_ptr<PipeTransport> pipe;

  void data_received(std::span<const std::byte> data) override;
  void connection_lost(std::exception_ptr exc) override;
  void pause_writing() override;
  void resume_writing() override;
};

class UnixSubprocessTransport final : public SubprocessTransport,
                                      public ChildExitTarget,
                                      private LoopCloseHook {
 public:
  UnixSubprocessTransport(EventLoop& loop, std::shared_ptr<SubprocessProtocol> protocol, pid_t pid)
      : loop_(&loop), protocol_(std::move(protocol)), pid_(pid) {}

  ~UnixSubprocessTransport() override {
    unlink();                                                      // from the loop's close hooks
    if (!returncode_ && watch_.watching()) ::kill(pid_, SIGKILL);  // Python's __del__ closes
    watch_.detach();
    for (PipeProxy& p : pipes_) {
      if (p.pipe) PipeAccess::clear_protocol(*p.pipe);
    }
  }

  // ---- SubprocessTransport -------------------------------------------------------------------

  pid_t get_pid() const noexcept override { return pid_; }
  std::optional<int> get_returncode() const noexcept override { return returncode_; }
  PipeTransport* get_pipe_transport(int fd) const noexcept override {
    return fd >= 0 && fd < 3 ? pipes_[fd].pipe.get() : nullptr;
  }
  std::any get_extra_info(std::string_view name) const override {
    if (name == "subprocess") return pid_;
    return {};
  }

  void send_signal(int sig) override {
    if (proc_gone_) throw ProcessLookupError(std::string());  // Python: ProcessLookupError()
    // Once reaped, the pid may belong to another process: never signal it (Python's
    // Popen.send_signal does nothing once the return code is known).
    if (returncode_ || !watch_.watching()) return;
    if (::kill(pid_, sig) != 0 && errno != ESRCH) throw_os_error(errno);
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    for (PipeProxy& p : pipes_) {
      if (p.pipe) p.pipe->close();
    }
    // Still running (not reaped, so the pid is still ours)? Kill it, as Python does.
    if (!returncode_ && watch_.watching()) ::kill(pid_, SIGKILL);
  }

  bool is_closing() const noexcept override { return closed_; }
  std::shared_ptr<BaseProtocol> get_protocol() const override { return protocol_; }
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override {
    auto p = std::dynamic_pointer_cast<SubprocessProtocol>(protocol);
    if (protocol && !p) throw ValueError("a subprocess transport needs a SubprocessProtocol");
    protocol_ = std::move(p);
  }

  Coro<int> wait() override {
    return wait_for_exit(std::static_pointer_cast<UnixSubprocessTransport>(shared_from_this()));
  }

  // ---- Setting up ----------------------------------------------------------------------------

  /// Wraps the parent's pipe ends in transports (taking the fds, closing them on failure),
  /// starts watching the child and keeps itself alive until it finishes.
  void setup(const std::shared_ptr<UnixSubprocessTransport>& self, SpawnedChild& child) {
    int* fds[3] = {&child.stdin_fd, &child.stdout_fd, &child.stderr_fd};
    struct CloseRest {
      int** fds;
      ~CloseRest() {
        for (int i = 0; i < 3; ++i) {
          if (*fds[i] >= 0) ::close(std::exchange(*fds[i], -1));
        }
      }
    } rest{fds};
    for (int i = 0; i < 3; ++i) {
      if (*fds[i] < 0) continue;
      pipes_[i].proc = this;
      pipes_[i].fd = i;
      if (i == 0) {
        pipes_[i].pipe = PipeAccess::make_write(*loop_, *fds[i], &pipes_[i], nullptr);
      } else {
        pipes_[i].pipe = PipeAccess::make_read(*loop_, *fds[i], &pipes_[i], nullptr);
      }
      *fds[i] = -1;  // the transport owns it now
    }
    watch_.start(*loop_, pid_, this);
    keep_alive_ = self;
    LoopAccess::add_close_hook(*loop_, this);
  }

  /// setup() failed: kill the child, make sure it is reaped, close the pipes.
  void abort_start() noexcept {
    ::kill(pid_, SIGKILL);
    if (watch_.watching()) {
      watch_.detach();
    } else {
      reap_orphan(pid_);
    }
    for (PipeProxy& p : pipes_) {
      if (p.pipe) PipeAccess::clear_protocol(*p.pipe);
      p.pipe.reset();
    }
    returncode_ = -SIGKILL;
    finished_ = true;
    proc_gone_ = true;
  }

  /// Python: _connect_pipes' end: connection_made, then the pipes start reading.
  void connect() {
    try {
      protocol_->connection_made(*this);
    } catch (...) {
      report("connection_made");
    }
    for (PipeProxy& p : pipes_) {
      if (p.pipe) PipeAccess::start(*p.pipe);
    }
  }

  // ---- Events ----------------------------------------------------------------------------------

  /// Python: _pipe_data_received, but delivered at once rather than through call_soon: the
  /// data is already on the loop thread, and order per pipe is kept (connection_lost of a
  /// pipe is always scheduled after its last data).
  void pipe_data_received(int fd, std::span<const std::byte> data) {
    if (protocol_ == nullptr) return;
    try {
      protocol_->pipe_data_received(fd, data);
    } catch (...) {
      report("pipe_data_received");
    }
  }

  void pipe_connection_lost(int fd, std::exception_ptr exc) {
    call([fd, exc](UnixSubprocessTransport& t) {
      if (t.protocol_ == nullptr) return;
      try {
        t.protocol_->pipe_connection_lost(fd, exc);
      } catch (...) {
        t.report("pipe_connection_lost");
      }
    });
    try_finish();
  }

  void on_child_exited(int returncode) noexcept override {
    returncode_ = returncode;
    call([](UnixSubprocessTransport& t) {
      if (t.protocol_ == nullptr) return;
      try {
        t.protocol_->process_exited();
      } catch (...) {
        t.report("process_exited");
      }
    });
    try_finish();
  }

  SubprocessProtocol* protocol() const noexcept { return protocol_.get(); }

 private:
  static Coro<int> wait_for_exit(std::shared_ptr<UnixSubprocessTransport> self) {
    if (self->returncode_) co_return *self->returncode_;
    if (self->loop_ == nullptr) throw RuntimeError("Event loop is closed");
    Future<int> waiter = self->loop_->create_future<int>();
    self->exit_waiters_.push_back(waiter);
    co_return co_await waiter;
  }

  /// Python: _call(cb, *data) once connected: schedules cb on the loop.
  template <class F>
  void call(F&& f) noexcept {
    if (loop_ == nullptr) return;
    try {
      loop_->call_soon(
          [self = std::static_pointer_cast<UnixSubprocessTransport>(shared_from_this()),
           f = std::forward<F>(f)]() mutable { f(*self); });
    } catch (...) {
      // Out of memory: the event is lost.
    }
  }

  /// Python: _try_finish.
  void try_finish() noexcept {
    if (finished_ || !returncode_) return;
    for (const PipeProxy& p : pipes_) {
      if (p.pipe && !p.disconnected) return;
    }
    finished_ = true;
    call([](UnixSubprocessTransport& t) { t.call_connection_lost(nullptr); });
  }

  /// Python: _call_connection_lost.
  void call_connection_lost(std::exception_ptr exc) noexcept {
    auto keep = std::move(keep_alive_);  // may be the last reference: released on return
    unlink();                            // nothing left to tear down when the loop closes
    if (protocol_ != nullptr) {
      try {
        protocol_->connection_lost(exc);
      } catch (...) {
        report("connection_lost");
      }
    }
    for (Future<int>& waiter : exit_waiters_) {
      if (!waiter.done()) waiter.set_result(*returncode_);
    }
    exit_waiters_.clear();
    protocol_.reset();
    loop_ = nullptr;
    proc_gone_ = true;  // Python: self._proc = None
  }

  void on_loop_close() noexcept override {
    // The loop closes while the child runs or its pipes are open: kill it (as Python's
    // transport does when closed or collected), reap it in the background, drop everything.
    auto keep = std::move(keep_alive_);
    if (!returncode_ && watch_.watching()) ::kill(pid_, SIGKILL);
    watch_.detach();
    for (PipeProxy& p : pipes_) {
      if (p.pipe) PipeAccess::clear_protocol(*p.pipe);
    }
    exit_waiters_.clear();
    closed_ = true;
    loop_ = nullptr;
  }

  void report(const char* method) noexcept {
    if (loop_ == nullptr) return;
    loop_->call_exception_handler(
        {std::string("Exception in callback SubprocessProtocol.") + method,
         std::current_exception(),
         {}});
  }

  friend struct PipeProxy;

  EventLoop* loop_;
  std::shared_ptr<SubprocessProtocol> protocol_;
  pid_t pid_;
  std::optional<int> returncode_;
  PipeProxy pipes_[3];
  ChildWatch watch_;
  std::vector<Future<int>> exit_waiters_;
  bool closed_ = false;
  bool finished_ = false;
  bool proc_gone_ = false;
  std::shared_ptr<UnixSubprocessTransport> keep_alive_;
};

void PipeProxy::data_received(std::span<const std::byte> data) {
  proc->pipe_data_received(fd, data);
}

void PipeProxy::connection_lost(std::exception_ptr exc) {
  disconnected = true;
  proc->pipe_connection_lost(fd, std::move(exc));
}

void PipeProxy::pause_writing() {
  if (SubprocessProtocol* p = proc->protocol()) p->pause_writing();
}

void PipeProxy::resume_writing() {
  if (SubprocessProtocol* p = proc->protocol()) p->resume_writing();
}

}  // namespace

std::shared_ptr<SubprocessTransport> start_subprocess(EventLoop& loop,
                                                      std::shared_ptr<SubprocessProtocol> protocol,
                                                      std::vector<std::string> argv,
                                                      const SpawnOptions& options) {
  LoopAccess::check_not_closed(loop);
  if (!protocol) throw ValueError("the protocol factory returned no protocol");
  SpawnedChild child = spawn_child(argv, options);
  std::shared_ptr<UnixSubprocessTransport> transport;
  try {
    transport = std::make_shared<UnixSubprocessTransport>(loop, std::move(protocol), child.pid);
  } catch (...) {
    for (int fd : {child.stdin_fd, child.stdout_fd, child.stderr_fd}) {
      if (fd >= 0) ::close(fd);
    }
    ::kill(child.pid, SIGKILL);
    reap_orphan(child.pid);
    throw;
  }
  try {
    transport->setup(transport, child);
  } catch (...) {
    transport->abort_start();
    throw;
  }
  transport->connect();
  return transport;
}

}  // namespace asyncio::detail
