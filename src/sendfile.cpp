// loop.sock_sendfile() and loop.sendfile() (Python: base_events.sock_sendfile/sendfile and
// their fallbacks, unix_events._sock_sendfile_native, selector_events._sendfile_native,
// base_events._SendfileFallbackProtocol).

#include "asyncio/sendfile.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "asyncio/futures.hpp"
#include "asyncio/net_errors.hpp"
#include "asyncio/sockets.hpp"
#include "asyncio/threads.hpp"
#include "selector_events.hpp"

namespace asyncio {

namespace {

/// Python: constants.SENDFILE_FALLBACK_READBUFFER_SIZE (sock_sendfile's fallback).
constexpr std::size_t kSockFallbackBlock = 256 * 1024;
/// Python: the block size of loop.sendfile()'s fallback.
constexpr std::size_t kTransportFallbackBlock = 16384;

/// Python: _sock_sendfile_update_filepos — the position just past what was sent.
void update_filepos(int file, std::int64_t offset, std::size_t total_sent) noexcept {
  if (total_sent > 0) ::lseek(file, static_cast<off_t>(offset), SEEK_SET);
}

/// Python: _check_sendfile_params (the file-mode check has no fd counterpart).
void check_sendfile_params(int sock, std::int64_t offset, std::optional<std::int64_t> count) {
  if (TransportSocket(sock).type() != SOCK_STREAM) {
    throw ValueError("only SOCK_STREAM type sockets are supported");
  }
  if (count && *count <= 0) {
    throw ValueError("count must be a positive integer (got " + std::to_string(*count) + ")");
  }
  if (offset < 0) {
    throw ValueError("offset must be a non-negative integer (got " + std::to_string(offset) + ")");
  }
}

/// sendfile(2) without SIGPIPE: unlike send(), it has no MSG_NOSIGNAL, and a write to a
/// closed connection would kill the process (Python ignores SIGPIPE process-wide; the library
/// does not change signal dispositions). SIGPIPE is blocked in this thread for the call, and
/// the one the call raised is consumed (unless one was already pending). Keeps errno.
ssize_t sendfile_nosigpipe(int out, int in, off_t* off, std::size_t n) noexcept {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigset_t pending;
  sigemptyset(&pending);
  ::sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  ssize_t sent = ::sendfile(out, in, off, n);
  int err = errno;
  if (sent < 0 && err == EPIPE && !was_pending) {
    timespec zero{0, 0};
    while (::sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return sent;
}

/// One sendfile(2) per writability (as Python's _sock_sendfile_native_impl): done at EOF, at
/// `count` or on an error. The counters stay readable after a failure or cancellation, for
/// the file position.
class SockSendfile final : public detail::SockOp {
 public:
  SockSendfile(int sock, int file, std::int64_t offset, std::optional<std::int64_t> count,
               std::size_t blocksize) noexcept
      : SockOp(sock, true), file_(file), offset_(offset), count_(count), blocksize_(blocksize) {}
  bool await_ready() { return try_now("sock_sendfile"); }
  void await_suspend(std::coroutine_handle<> h) { suspend(h, "sock_sendfile"); }
  std::size_t await_resume() {
    check_resume();
    return total_;
  }
  std::int64_t offset() const noexcept { return offset_; }
  std::size_t total() const noexcept { return total_; }

 private:
  bool attempt() noexcept override {
    std::size_t n = blocksize_;
    if (count_) {
      if (total_ >= static_cast<std::size_t>(*count_)) return true;
      n = static_cast<std::size_t>(*count_) - total_;
    }
    off_t off = static_cast<off_t>(offset_);
    ssize_t sent = sendfile_nosigpipe(fd_, file_, &off, n);
    if (sent < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return false;
      err_ = errno;
      return true;
    }
    if (sent == 0) return true;  // EOF
    offset_ += sent;
    total_ += static_cast<std::size_t>(sent);
    // As Python: wait for writability before the next call (which finds out whether `count`
    // is reached) rather than calling again at once. So the operation always suspends once
    // something was sent, and some kernels (gVisor's among them) block in sendfile(2) on a
    // full socket even when it is non-blocking.
    return false;
  }

  std::exception_ptr make_error() const override {
    // Nothing sent: most likely a file sendfile(2) cannot read; the caller falls back.
    if (total_ == 0) {
      return std::make_exception_ptr(SendfileNotAvailableError("os.sendfile call failed"));
    }
    if (err_ == ENOTCONN) {
      // Python normalises a connection closed mid-way to ConnectionError.
      return std::make_exception_ptr(ConnectionError(ENOTCONN, "socket is not connected"));
    }
    return make_os_error(err_);
  }

  int file_;
  std::int64_t offset_;
  std::optional<std::int64_t> count_;
  std::size_t blocksize_;
  std::size_t total_ = 0;
};

/// Python: unix_events._sock_sendfile_native.
Coro<std::size_t> sock_sendfile_native(int sock, int file, std::int64_t offset,
                                       std::optional<std::int64_t> count) {
  struct stat st {};
  if (::fstat(file, &st) != 0) throw SendfileNotAvailableError("not a regular file");
  std::size_t blocksize = count ? static_cast<std::size_t>(*count)
                                : static_cast<std::size_t>(std::max<off_t>(st.st_size, 0));
  if (blocksize == 0) co_return 0;  // empty file
  SockSendfile op(sock, file, offset, count, blocksize);
  try {
    co_await op;
  } catch (...) {
    update_filepos(file, op.offset(), op.total());
    throw;
  }
  update_filepos(file, op.offset(), op.total());
  co_return op.total();
}

/// Reads up to `n` bytes of `file` into `buf` on the default executor (Python:
/// run_in_executor(None, file.readinto, view)). The buffer is shared with the thread, which
/// may still be reading after a cancellation.
Coro<std::size_t> read_block(int file, std::shared_ptr<std::vector<std::byte>> buf, std::size_t n) {
  // Named, not a temporary in the co_await: g++ 12 destroys such temporaries (here the
  // lambda and its shared_ptr) twice.
  Coro<ssize_t> reading = to_thread([file, buf, n]() -> ssize_t {
    ssize_t got;
    do {
      got = ::read(file, buf->data(), n);
    } while (got < 0 && errno == EINTR);
    return got < 0 ? -errno : got;
  });
  ssize_t r = co_await std::move(reading);
  if (r < 0) throw_os_error(static_cast<int>(-r));
  co_return static_cast<std::size_t>(r);
}

/// Python: _sock_sendfile_fallback.
Coro<std::size_t> sock_sendfile_fallback(int sock, int file, std::int64_t offset,
                                         std::optional<std::int64_t> count) {
  if (offset != 0 && ::lseek(file, static_cast<off_t>(offset), SEEK_SET) < 0) {
    throw_os_error(errno);
  }
  std::size_t blocksize =
      count ? std::min<std::size_t>(static_cast<std::size_t>(*count), kSockFallbackBlock)
            : kSockFallbackBlock;
  auto buf = std::make_shared<std::vector<std::byte>>(blocksize);
  std::size_t total = 0;
  try {
    while (true) {
      if (count) {
        blocksize = std::min(static_cast<std::size_t>(*count) - total, blocksize);
        if (blocksize == 0) break;
      }
      // Named, not a temporary in the co_await (g++ 12 destroys those twice).
      Coro<std::size_t> reading = read_block(file, buf, blocksize);
      std::size_t got = co_await std::move(reading);
      if (got == 0) break;  // EOF
      co_await sock_sendall(sock, std::span<const std::byte>(buf->data(), got));
      total += got;
    }
  } catch (...) {
    update_filepos(file, offset + static_cast<std::int64_t>(total), total);
    throw;
  }
  update_filepos(file, offset + static_cast<std::int64_t>(total), total);
  co_return total;
}

}  // namespace

Coro<std::size_t> sock_sendfile(int sock, int file, std::int64_t offset,
                                std::optional<std::int64_t> count, bool fallback) {
  check_sendfile_params(sock, offset, count);
  try {
    co_return co_await sock_sendfile_native(sock, file, offset, count);
  } catch (const SendfileNotAvailableError&) {
    if (!fallback) throw;
  }
  co_return co_await sock_sendfile_fallback(sock, file, offset, count);
}

namespace {

/// Python: _SendfileFallbackProtocol — stands in for the transport's protocol while the
/// fallback writes, so that flow control (pause_writing/resume_writing) reaches it.
class SendfileFallbackProtocol final : public Protocol {
 public:
  SendfileFallbackProtocol(EventLoop& loop, std::shared_ptr<Transport> transport)
      : loop_(&loop), transport_(std::move(transport)) {
    proto_ = std::dynamic_pointer_cast<Protocol>(transport_->get_protocol());
    should_resume_reading_ = transport_->is_reading();
    should_resume_writing_ = protocol_paused(*transport_);
    transport_->pause_reading();
    if (should_resume_writing_) write_ready_ = loop_->create_future<void>();
  }

  /// Python: drain() — waits while the transport's buffer is over its high-water mark.
  Coro<void> drain() {
    if (transport_->is_closing()) throw ConnectionError(std::string("Connection closed by peer"));
    if (!write_ready_) co_return;
    Future<void> f = *write_ready_;
    co_await f;
  }

  void connection_made(Transport&) override {
    throw RuntimeError("Invalid state: connection should have been established already.");
  }
  void connection_lost(std::exception_ptr exc) override {
    if (write_ready_ && !write_ready_->done()) {
      // Never happens if the peer disconnects after the whole content: so it is an error.
      write_ready_->set_exception(exc ? exc
                                      : std::make_exception_ptr(ConnectionError(
                                            std::string("Connection is closed by peer"))));
    }
    if (proto_) proto_->connection_lost(exc);
  }
  void pause_writing() override {
    if (!write_ready_) write_ready_ = loop_->create_future<void>();
  }
  void resume_writing() override {
    if (!write_ready_) return;
    if (!write_ready_->done()) write_ready_->set_result();
    write_ready_.reset();
  }
  void data_received(std::span<const std::byte>) override {
    throw RuntimeError("Invalid state: reading should be paused");
  }
  bool eof_received() override { throw RuntimeError("Invalid state: reading should be paused"); }

  /// Python: restore() — gives the transport its protocol back.
  void restore() {
    if (proto_ && !transport_->is_closing()) transport_->set_protocol(proto_);
    if (should_resume_reading_) transport_->resume_reading();
    if (write_ready_) write_ready_->cancel();
    if (should_resume_writing_ && proto_) proto_->resume_writing();
  }

 private:
  /// Whether the transport told its protocol pause_writing() (Python: _protocol_paused).
  /// Exact for socket transports; others only expose their buffer, paused for sure above
  /// the high-water mark.
  static bool protocol_paused(const Transport& t) {
    if (auto* st = dynamic_cast<const detail::SocketTransport*>(&t)) return st->protocol_paused();
    return t.get_write_buffer_size() > t.get_write_buffer_limits().second;
  }

  EventLoop* loop_;
  std::shared_ptr<Transport> transport_;
  std::shared_ptr<Protocol> proto_;
  bool should_resume_reading_ = false;
  bool should_resume_writing_ = false;
  std::optional<Future<void>> write_ready_;
};

/// Python: _sendfile_fallback.
Coro<std::size_t> sendfile_fallback(std::shared_ptr<Transport> transport, int file,
                                    std::int64_t offset, std::optional<std::int64_t> count) {
  EventLoop& loop = get_running_loop();
  if (offset != 0 && ::lseek(file, static_cast<off_t>(offset), SEEK_SET) < 0) {
    throw_os_error(errno);
  }
  std::size_t blocksize =
      count && *count > 0
          ? std::min<std::size_t>(static_cast<std::size_t>(*count), kTransportFallbackBlock)
          : kTransportFallbackBlock;
  bool counted = count && *count > 0;  // Python: `if count:`
  auto buf = std::make_shared<std::vector<std::byte>>(blocksize);
  std::size_t total = 0;
  auto proto = std::make_shared<SendfileFallbackProtocol>(loop, transport);
  transport->set_protocol(proto);
  std::exception_ptr error;
  try {
    while (true) {
      if (counted) {
        blocksize = std::min(static_cast<std::size_t>(*count) - total, blocksize);
        if (blocksize == 0) break;
      }
      // Named, not a temporary in the co_await (g++ 12 destroys those twice).
      Coro<std::size_t> reading = read_block(file, buf, blocksize);
      std::size_t got = co_await std::move(reading);
      if (got == 0) break;  // EOF
      co_await proto->drain();
      transport->write(std::span<const std::byte>(buf->data(), got));
      total += got;
    }
  } catch (...) {
    error = std::current_exception();
  }
  update_filepos(file, offset + static_cast<std::int64_t>(total), total);
  proto->restore();
  if (error) std::rethrow_exception(error);
  co_return total;
}

/// Python: selector_events._sendfile_native — sock_sendfile on the transport's socket once
/// its buffer is empty, with reading paused and the fd lent to the sock_* machinery.
Coro<std::size_t> sendfile_native(std::shared_ptr<detail::SocketTransport> transport, int file,
                                  std::int64_t offset, std::optional<std::int64_t> count) {
  bool resume_reading = transport->is_reading();
  transport->pause_reading();
  std::exception_ptr error;
  std::size_t sent = 0;
  try {
    Future<void> empty = transport->make_empty_waiter();
    try {
      co_await empty;
      transport->lend_fd(true);
      sent = co_await sock_sendfile(transport->fd(), file, offset, count, /*fallback=*/false);
    } catch (...) {
      error = std::current_exception();
    }
    transport->reset_empty_waiter();
    transport->lend_fd(false);
  } catch (...) {
    error = std::current_exception();  // "Empty waiter is already set"
  }
  if (resume_reading) transport->resume_reading();
  if (error) std::rethrow_exception(error);
  co_return sent;
}

std::string transport_repr(const Transport& t) {
  if (dynamic_cast<const detail::SocketTransport*>(&t)) {
    return "<_SelectorSocketTransport fd=" +
           std::to_string(static_cast<const detail::SocketTransport&>(t).fd()) + ">";
  }
  if (t.get_extra_info("sslcontext").has_value()) return "<asyncio.sslproto._SSLProtocolTransport>";
  return "<asyncio.Transport>";
}

}  // namespace

Coro<std::size_t> sendfile(std::shared_ptr<Transport> transport, int file, std::int64_t offset,
                           std::optional<std::int64_t> count, bool fallback) {
  if (!transport) throw ValueError("transport is required");
  if (transport->is_closing()) throw RuntimeError("Transport is closing");
  if (auto st = std::dynamic_pointer_cast<detail::SocketTransport>(transport)) {
    try {
      Coro<std::size_t> native = sendfile_native(std::move(st), file, offset, count);
      co_return co_await std::move(native);
    } catch (const SendfileNotAvailableError&) {
      if (!fallback) throw;
    }
  } else if (!fallback) {
    throw RuntimeError("fallback is disabled and native sendfile is not supported for transport " +
                       transport_repr(*transport));
  }
  Coro<std::size_t> fallback_sending = sendfile_fallback(std::move(transport), file, offset, count);
  co_return co_await std::move(fallback_sending);
}

}  // namespace asyncio
