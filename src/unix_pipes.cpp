// Pipe transports (Python: unix_events._UnixReadPipeTransport / _UnixWritePipeTransport).

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "asyncio/net_errors.hpp"
#include "asyncio/unix_pipes.hpp"
#include "unix_internal.hpp"

namespace asyncio {

// ---- PipeTransport -------------------------------------------------------------------------

PipeTransport::PipeTransport(EventLoop& loop, int fd, Protocol* protocol,
                             std::shared_ptr<BaseProtocol> owner)
    : loop_(&loop), fd_(fd), protocol_(protocol), protocol_owner_(std::move(owner)) {
  detail::LoopAccess::add_close_hook(loop, this);
}

PipeTransport::~PipeTransport() {
  unlink();  // from the loop's close hooks
  close_fd();
}

void PipeTransport::close_fd() noexcept {
  if (fd_ < 0) return;
  if (loop_ != nullptr && (watch_read_ || watch_write_)) {
    try {
      detail::LoopAccess::unwatch_io(*loop_, fd_);
    } catch (...) {
      // Unwatching a watched fd cannot fail.
    }
  }
  watch_read_ = watch_write_ = false;
  ::close(fd_);
  fd_ = -1;
}

void PipeTransport::watch(bool readable, bool writable) {
  if (loop_ == nullptr || fd_ < 0) return;
  if (readable == watch_read_ && writable == watch_write_) return;
  detail::LoopAccess::watch_io(*loop_, fd_, this, readable, writable);
  watch_read_ = readable;
  watch_write_ = writable;
}

void PipeTransport::schedule_connection_lost(std::exception_ptr exc) {
  if (loop_ == nullptr) return;
  loop_->call_soon([self = std::static_pointer_cast<PipeTransport>(shared_from_this()), exc] {
    self->call_connection_lost(exc);
  });
}

std::any PipeTransport::get_extra_info(std::string_view name) const {
  if (name == "pipe" && fd_ >= 0) return fd_;
  return {};
}

void PipeTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  auto* p = dynamic_cast<Protocol*>(protocol.get());
  if (protocol && p == nullptr) throw ValueError("a pipe transport needs an asyncio::Protocol");
  protocol_ = p;
  protocol_owner_ = std::move(protocol);
}

std::shared_ptr<BaseProtocol> PipeTransport::get_protocol() const {
  if (protocol_owner_) return protocol_owner_;
  // The subprocess transport's own pipe protocols are not shared objects: a non-owning view.
  if (protocol_ != nullptr)
    return std::shared_ptr<BaseProtocol>(std::shared_ptr<void>(), protocol_);
  return nullptr;
}

void PipeTransport::call_connection_lost(std::exception_ptr exc) noexcept {
  Protocol* protocol = std::exchange(protocol_, nullptr);
  auto owner = std::move(protocol_owner_);  // released once connection_lost() returned
  if (protocol != nullptr) {
    try {
      protocol->connection_lost(exc);
    } catch (...) {
      protocol_ = protocol;
      report_protocol_error("connection_lost");
      protocol_ = nullptr;
    }
  }
  close_fd();
}

void PipeTransport::report_protocol_error(const char* method) noexcept {
  if (loop_ == nullptr) return;
  loop_->call_exception_handler(
      {std::string("Exception in callback Protocol.") + method, std::current_exception(), {}});
}

void PipeTransport::on_loop_close() noexcept {
  // The loop is closing: no callback will run any more. Close the pipe without telling the
  // protocol (Python would warn "unclosed transport" and close it when collected).
  closing_ = true;
  close_fd();
  loop_ = nullptr;
  protocol_ = nullptr;
  protocol_owner_.reset();
}

// ---- ReadPipeTransport ---------------------------------------------------------------------

namespace {

/// One read buffer per thread: data_received() gets a view valid during the call only.
char* read_buffer() {
  thread_local std::unique_ptr<char[]> buffer;
  if (!buffer) buffer = std::make_unique<char[]>(ReadPipeTransport::max_size);
  return buffer.get();
}

void check_pipe_fd(int fd, bool write) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_os_error(errno);
  if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode) && !S_ISCHR(st.st_mode)) {
    throw ValueError(write ? "Pipe transport is only for pipes, sockets and character devices"
                           : "Pipe transport is for pipes/sockets only.");
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw_os_error(errno);
}

}  // namespace

void ReadPipeTransport::on_io(bool readable, bool) noexcept {
  if (!readable || fd_ < 0) return;
  char* buf = read_buffer();
  const ssize_t n = ::read(fd_, buf, max_size);
  if (n > 0) {
    if (protocol_ == nullptr) return;
    try {
      protocol_->data_received(std::span<const std::byte>(reinterpret_cast<const std::byte*>(buf),
                                                          static_cast<std::size_t>(n)));
    } catch (...) {
      report_protocol_error("data_received");
    }
    return;
  }
  if (n < 0) {
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) return;
    // EIO (the other end of a pty went away) is an ordinary end, not worth a report.
    std::exception_ptr exc = make_os_error(err);
    if (err != EIO && loop_ != nullptr) {
      loop_->call_exception_handler({"Fatal read error on pipe transport", exc, {}});
    }
    try {
      close_with(exc);
    } catch (...) {
    }
    return;
  }
  // EOF.
  closing_ = true;
  try {
    watch(false, false);
    loop_->call_soon([self = std::static_pointer_cast<ReadPipeTransport>(shared_from_this())] {
      ReadPipeTransport* t = self.get();
      if (t->protocol_ == nullptr) return;
      try {
        (void)t->protocol_->eof_received();  // a read pipe closes after EOF whatever it says
      } catch (...) {
        t->report_protocol_error("eof_received");
      }
    });
    schedule_connection_lost(nullptr);
  } catch (...) {
    // Out of memory while scheduling: the pipe stays closed-for-reading.
  }
}

void ReadPipeTransport::pause_reading() {
  if (!is_reading()) return;
  paused_ = true;
  watch(false, false);
}

void ReadPipeTransport::resume_reading() {
  if (closing_ || !paused_) return;
  paused_ = false;
  watch(true, false);
}

void ReadPipeTransport::write(std::span<const std::byte>) {
  throw RuntimeError("write() on a read pipe transport");
}

void ReadPipeTransport::close() {
  if (!closing_) close_with(nullptr);
}

void ReadPipeTransport::close_with(std::exception_ptr exc) {
  closing_ = true;
  watch(false, false);
  schedule_connection_lost(std::move(exc));
}

// ---- WritePipeTransport --------------------------------------------------------------------

void WritePipeTransport::write(std::span<const std::byte> bytes) {
  std::string_view data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (data.empty()) return;
  if (conn_lost_ != 0 || closing_) {
    // Python logs "pipe closed by peer or os.write(pipe, data) raised exception." after a few.
    ++conn_lost_;
    return;
  }
  if (get_write_buffer_size() == 0) {
    const ssize_t n = detail::write_no_sigpipe(fd_, data.data(), data.size());
    if (n < 0) {
      const int err = errno;
      if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
        ++conn_lost_;
        fatal_error(err, "Fatal write error on pipe transport");
        return;
      }
    } else if (static_cast<std::size_t>(n) == data.size()) {
      return;
    } else {
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    watch(/*readable=*/true, /*writable=*/true);
  }
  buffer_.append(data);
  maybe_pause_protocol();
}

void WritePipeTransport::on_io(bool readable, bool writable) noexcept {
  if (fd_ < 0) return;
  if (readable) {
    // A write end is "readable" only when the reader went away (EPOLLERR/EPOLLHUP).
    auto keep = shared_from_this();
    try {
      if (get_write_buffer_size() != 0) {
        close_with(std::make_exception_ptr(BrokenPipeError(std::string("pipe closed by peer"))));
      } else {
        close_with(nullptr);
      }
    } catch (...) {
    }
    return;
  }
  if (writable) write_ready();
}

void WritePipeTransport::write_ready() noexcept {
  if (get_write_buffer_size() == 0) return;
  const ssize_t n =
      detail::write_no_sigpipe(fd_, buffer_.data() + buffer_offset_, get_write_buffer_size());
  if (n < 0) {
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) return;
    buffer_.clear();
    buffer_offset_ = 0;
    ++conn_lost_;
    fatal_error(err, "Fatal write error on pipe transport");
    return;
  }
  buffer_offset_ += static_cast<std::size_t>(n);
  if (buffer_offset_ == buffer_.size()) {
    buffer_.clear();
    buffer_offset_ = 0;
    auto keep = shared_from_this();  // the protocol's resume_writing() may drop the last handle
    try {
      watch(/*readable=*/true, /*writable=*/false);
    } catch (...) {
    }
    maybe_resume_protocol();  // may append to the buffer
    if (closing_ && get_write_buffer_size() == 0) {
      try {
        watch(false, false);
      } catch (...) {
      }
      call_connection_lost(nullptr);
    }
    return;
  }
  // Compact once the written prefix dominates, so a large buffer is not moved per write.
  if (buffer_offset_ > buffer_.size() / 2) {
    buffer_.erase(0, buffer_offset_);
    buffer_offset_ = 0;
  }
}

void WritePipeTransport::write_eof() {
  if (closing_) return;
  closing_ = true;
  if (get_write_buffer_size() == 0) {
    watch(false, false);
    schedule_connection_lost(nullptr);
  }
}

void WritePipeTransport::close() {
  if (fd_ >= 0 && !closing_) write_eof();
}

void WritePipeTransport::abort() {
  close_with(nullptr);
}

void WritePipeTransport::fatal_error(int err, const char* message) noexcept {
  // Python: OSErrors are only logged in debug mode; the protocol learns from connection_lost.
  (void)message;
  try {
    close_with(make_os_error(err));
  } catch (...) {
  }
}

void WritePipeTransport::close_with(std::exception_ptr exc) {
  closing_ = true;
  buffer_.clear();
  buffer_offset_ = 0;
  watch(false, false);
  schedule_connection_lost(std::move(exc));
}

void WritePipeTransport::maybe_pause_protocol() noexcept {
  if (get_write_buffer_size() <= high_water_ || protocol_paused_) return;
  protocol_paused_ = true;
  if (protocol_ == nullptr) return;
  try {
    protocol_->pause_writing();
  } catch (...) {
    report_protocol_error("pause_writing");
  }
}

void WritePipeTransport::maybe_resume_protocol() noexcept {
  if (!protocol_paused_ || get_write_buffer_size() > low_water_) return;
  protocol_paused_ = false;
  if (protocol_ == nullptr) return;
  try {
    protocol_->resume_writing();
  } catch (...) {
    report_protocol_error("resume_writing");
  }
}

void WritePipeTransport::set_write_buffer_limits(std::optional<std::size_t> high,
                                                 std::optional<std::size_t> low) {
  std::size_t h = high ? *high : (low ? 4 * *low : 64 * 1024);
  std::size_t l = low ? *low : h / 4;
  if (h < l) {
    throw ValueError("high (" + std::to_string(h) + ") must be >= low (" + std::to_string(l) +
                     ") must be >= 0");
  }
  high_water_ = h;
  low_water_ = l;
  maybe_pause_protocol();
}

// ---- Construction ----------------------------------------------------------------------------

namespace detail {

std::shared_ptr<ReadPipeTransport> PipeAccess::make_read(EventLoop& loop, int fd,
                                                         Protocol* protocol,
                                                         std::shared_ptr<BaseProtocol> owner) {
  LoopAccess::check_not_closed(loop);
  check_pipe_fd(fd, /*write=*/false);
  return std::shared_ptr<ReadPipeTransport>(
      new ReadPipeTransport(loop, fd, protocol, std::move(owner)));
}

std::shared_ptr<WritePipeTransport> PipeAccess::make_write(EventLoop& loop, int fd,
                                                           Protocol* protocol,
                                                           std::shared_ptr<BaseProtocol> owner) {
  LoopAccess::check_not_closed(loop);
  check_pipe_fd(fd, /*write=*/true);
  return std::shared_ptr<WritePipeTransport>(
      new WritePipeTransport(loop, fd, protocol, std::move(owner)));
}

void PipeAccess::start(PipeTransport& transport) {
  if (transport.closing_ || transport.fd_ < 0) return;
  if (auto* read = dynamic_cast<ReadPipeTransport*>(&transport)) {
    if (read->is_reading()) transport.watch(true, false);
  } else {
    // The write end is watched for readability to notice the reader closing (Python does
    // the same for pipes and sockets).
    auto& write = static_cast<WritePipeTransport&>(transport);
    transport.watch(true, write.get_write_buffer_size() != 0);
  }
}

// ---- Writing without SIGPIPE -------------------------------------------------------------------

ssize_t write_no_sigpipe(int fd, const void* data, std::size_t size) noexcept {
  sigset_t pipe_set;
  sigset_t old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  const ssize_t n = ::write(fd, data, size);
  const int err = errno;
  if (!sigismember(&old, SIGPIPE)) {
    // SIGPIPE was not blocked before, so none was pending for this thread: one pending now
    // was generated by our write (it is thread-directed). Consume it, then unblock.
    if (n < 0 && err == EPIPE) {
      const timespec zero{0, 0};
      while (::sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  errno = err;
  return n;
}

}  // namespace detail
}  // namespace asyncio
