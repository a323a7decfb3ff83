// Stream socket transports (Python: selector_events.py's _SelectorSocketTransport) and what
// the transports share (read buffer, flow-control limits, fatal error reports). Datagram
// transports are in selector_datagram.cpp, the server and its acceptor in server.cpp.

#include "selector_events.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "asyncio/tasks.hpp"

using namespace std::chrono_literals;

namespace asyncio {

void BufferedProtocol::data_received(std::span<const std::byte> data) {
  while (!data.empty()) {
    std::span<std::byte> buf = get_buffer(static_cast<std::ptrdiff_t>(data.size()));
    if (buf.empty()) throw RuntimeError("get_buffer() returned an empty buffer");
    std::size_t n = std::min(buf.size(), data.size());
    std::memcpy(buf.data(), data.data(), n);
    buffer_updated(n);
    data = data.subspan(n);
  }
}

void Transport::writelines(std::span<const std::span<const std::byte>> chunks) {
  for (const auto& c : chunks) write(c);
}

void Transport::writelines(std::initializer_list<std::string_view> chunks) {
  std::vector<std::span<const std::byte>> spans;
  spans.reserve(chunks.size());
  for (std::string_view s : chunks)
    spans.emplace_back(reinterpret_cast<const std::byte*>(s.data()), s.size());
  writelines(std::span<const std::span<const std::byte>>(spans));
}

namespace detail {

bool is_os_error(const std::exception_ptr& e) noexcept {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error&) {
    return true;
  } catch (...) {
    return false;
  }
}

std::span<std::byte> shared_read_buffer() noexcept {
  thread_local std::unique_ptr<std::byte[]> buffer(new std::byte[kMaxReadSize]);
  return {buffer.get(), kMaxReadSize};
}

std::pair<std::size_t, std::size_t> flowcontrol_limits(std::optional<std::size_t> high,
                                                       std::optional<std::size_t> low,
                                                       std::size_t default_high_kb) {
  std::size_t hi;
  std::size_t lo;
  if (!high) {
    hi = low ? 4 * *low : default_high_kb * 1024;
  } else {
    hi = *high;
  }
  lo = low ? *low : hi / 4;
  if (!(hi >= lo)) {
    throw ValueError("high (" + std::to_string(hi) + ") must be >= low (" + std::to_string(lo) +
                     ") must be >= 0");
  }
  return {hi, lo};
}

void report_fatal_error(EventLoop& loop, const std::exception_ptr& exc, const char* message) {
  if (is_os_error(exc)) {
    if (loop.get_debug()) {
      std::fprintf(stderr, "asyncio: %s: %s\n", message, describe(exc).c_str());
    }
    return;
  }
  if (exc && detail::is_cancelled_error(exc)) return;
  loop.call_exception_handler({message, exc, {}});
}

// ---- WriteBuffer -----------------------------------------------------------------------------

void WriteBuffer::append(std::span<const std::byte> bytes) {
  if (head_ > 0 && head_ >= data_.size() - head_) {
    // Mostly consumed: slide the rest to the front instead of growing.
    std::size_t rest = data_.size() - head_;
    std::memmove(data_.data(), data_.data() + head_, rest);
    data_.resize(rest);
    head_ = 0;
  }
  data_.insert(data_.end(), bytes.begin(), bytes.end());
}

void WriteBuffer::consume(std::size_t n) noexcept {
  head_ += n;
  if (head_ == data_.size()) clear();
}

void WriteBuffer::clear() noexcept {
  head_ = 0;
  data_.clear();
  if (data_.capacity() > 4 * kMaxReadSize) {
    std::vector<std::byte>().swap(data_);  // give a burst's memory back
  }
}

// ---- SocketTransport -------------------------------------------------------------------------

std::ptrdiff_t send_chunks_now(int fd,
                               std::span<const std::span<const std::byte>> chunks) noexcept {
  iovec iov[64];
  std::size_t k = 0;
  for (std::size_t i = 0; i < chunks.size() && k < 64; ++i) {
    if (chunks[i].empty()) continue;
    iov[k].iov_base = const_cast<std::byte*>(chunks[i].data());
    iov[k].iov_len = chunks[i].size();
    ++k;
  }
  if (k == 0) return 0;
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = k;
  ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  if (n >= 0) return n;
  return would_block(errno) ? 0 : -errno;
}

SocketTransport::SocketTransport(EventLoop& loop, Socket sock, std::shared_ptr<Protocol> protocol,
                                 std::shared_ptr<ServerImpl> server,
                                 std::optional<SockAddr> peername)
    : loop_(&loop),
      sock_(std::move(sock)),
      server_(std::move(server)),
      peername_(std::move(peername)) {
  set_protocol(std::move(protocol));
  if (server_) server_->attach(this);
  // Python's _set_nodelay: small writes go out at once (fails harmlessly on Unix sockets).
  int one = 1;
  ::setsockopt(sock_.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (CompletionRing* ring = LoopAccess::ring(loop)) {
    // The completion path needs the provided-buffer group: without it (setup refused), the
    // transport stays on the readiness path, which io_uring serves through poll operations.
    try {
      (void)ring->buffer_group();
      ring_ = ring;
    } catch (...) {
    }
  }
  LoopAccess::add_close_hook(loop, this);
}

SocketTransport::~SocketTransport() {
  unlink();
  if (sock_.valid()) {
    if (watch_read_ || watch_write_) {
      try {
        LoopAccess::unwatch_io(*loop_, sock_.fd());
      } catch (...) {
      }
    }
    sock_.close();
  }
  if (server_) server_->detach(this);
}

void SocketTransport::start(Future<void> waiter) {
  self_ = std::static_pointer_cast<SocketTransport>(shared_from_this());
  loop_->call_soon([self = self_, waiter = std::move(waiter)]() mutable {
    self->after_connection_made(std::move(waiter));
  });
}

void SocketTransport::after_connection_made(Future<void> waiter) {
  if (!lost_called_ && protocol_) {
    try {
      protocol_->connection_made(*this);
    } catch (...) {
      loop_->call_exception_handler(
          {"Exception in callback Protocol.connection_made()", std::current_exception(), {}});
    }
  }
  started_reading_ = true;
  update_interest();
  if (waiter && !waiter.done()) waiter.set_result();
}

std::any SocketTransport::get_extra_info(std::string_view name) const {
  if (name == "peername") {
    if (peername_) return *peername_;
    if (sock_.valid()) {
      try {
        return sock_.getpeername();
      } catch (const std::system_error&) {
      }
    }
    return {};
  }
  if (name == "sockname") {
    if (sock_.valid()) {
      try {
        return sock_.getsockname();
      } catch (const std::system_error&) {
      }
    }
    return {};
  }
  if (name == "socket") {
    if (sock_.valid()) return TransportSocket(sock_.fd());
    return {};
  }
  return {};
}

void SocketTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  auto p = std::dynamic_pointer_cast<Protocol>(protocol);
  if (!p) throw ValueError("a stream transport needs an asyncio::Protocol");
  // The old protocol may be running a callback right now (start_tls from data_received):
  // keep it alive until the connection is lost.
  if (protocol_) retired_.push_back(std::move(protocol_));
  protocol_ = std::move(p);
  buffered_ = protocol_->as_buffered();
}

void SocketTransport::update_interest() noexcept {
  if (fd_lent_) return;  // sock_sendfile() has the fd registered: lend_fd(false) catches up
  bool want_read = started_reading_ && !paused_ && !closing_ && !read_eof_ && conn_lost_ == 0;
  if (ring_) {
    uring_update_reading(want_read);  // writes need no interest: sends complete by themselves
    return;
  }
  bool want_write = !buffer_.empty() && conn_lost_ == 0;
  if (want_read == watch_read_ && want_write == watch_write_) return;
  try {
    if (!want_read && !want_write) {
      LoopAccess::unwatch_io(*loop_, sock_.fd());
    } else {
      LoopAccess::watch_io(*loop_, sock_.fd(), this, want_read, want_write);
    }
    watch_read_ = want_read;
    watch_write_ = want_write;
  } catch (...) {
    watch_read_ = watch_write_ = false;
    if (conn_lost_ == 0) {
      std::exception_ptr e = std::current_exception();
      fatal_error(e, "Fatal error: cannot watch the socket");
    }
  }
}

void SocketTransport::on_io(bool readable, bool writable) noexcept {
  if (readable && watch_read_) {
    if (buffered_) {
      read_ready_buffered();
    } else {
      read_ready();
    }
  }
  if (writable && watch_write_ && conn_lost_ == 0) write_ready();
}

void SocketTransport::read_ready() noexcept {
  std::span<std::byte> buf = shared_read_buffer();
  ssize_t n = ::recv(sock_.fd(), buf.data(), buf.size(), 0);
  if (n < 0) {
    if (would_block(errno)) return;
    fatal_error(make_os_error(errno), "Fatal read error on socket transport");
    return;
  }
  if (n == 0) {
    on_eof();
    return;
  }
  deliver(buf.first(static_cast<std::size_t>(n)));  // a plain Protocol: data_received()
}

std::span<std::byte> SocketTransport::protocol_buffer() noexcept {
  try {
    std::span<std::byte> buf = buffered_->get_buffer(-1);
    if (buf.empty()) throw RuntimeError("get_buffer() returned an empty buffer");
    return buf;
  } catch (...) {
    fatal_error(std::current_exception(), "Fatal error: protocol.get_buffer() call failed.");
    return {};
  }
}

void SocketTransport::read_ready_buffered() noexcept {
  std::span<std::byte> buf = protocol_buffer();
  if (buf.empty()) return;
  ssize_t n = ::recv(sock_.fd(), buf.data(), buf.size(), 0);
  if (n < 0) {
    if (would_block(errno)) return;
    fatal_error(make_os_error(errno), "Fatal read error on socket transport");
    return;
  }
  if (n == 0) {
    on_eof();
    return;
  }
  try {
    buffered_->buffer_updated(static_cast<std::size_t>(n));
  } catch (...) {
    fatal_error(std::current_exception(), "Fatal error: protocol.buffer_updated() call failed.");
  }
}

void SocketTransport::on_eof() noexcept {
  bool keep_open = false;
  try {
    keep_open = protocol_->eof_received();
  } catch (...) {
    fatal_error(std::current_exception(), "Fatal error: protocol.eof_received() call failed.");
    return;
  }
  if (keep_open) {
    // Keep the connection open so the protocol can write more, but stop reading.
    read_eof_ = true;
    update_interest();
  } else {
    close();
  }
}

void SocketTransport::write(std::span<const std::byte> data) {
  if (empty_waiter_) throw RuntimeError("unable to write; sendfile is in progress");
  if (eof_) throw RuntimeError("Cannot call write() after write_eof()");
  if (data.empty()) return;
  if (conn_lost_ != 0) {
    if (conn_lost_ >= kLogThresholdForConnlostWrites && loop_->get_debug()) {
      std::fprintf(stderr, "asyncio: socket.send() raised exception.\n");
    }
    ++conn_lost_;
    return;
  }
  if (ring_) {
    const std::span<const std::byte> one[1] = {data};
    uring_write(one);
    return;
  }
  if (buffer_.empty()) {
    // Optimization: try to send now.
    ssize_t n = ::send(sock_.fd(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (!would_block(errno)) {
        fatal_error(make_os_error(errno), "Fatal write error on socket transport");
        return;
      }
      n = 0;
    }
    data = data.subspan(static_cast<std::size_t>(n));
    if (data.empty()) return;
    buffer_.append(data);
    update_interest();  // not all was written: watch for writability
  } else {
    buffer_.append(data);
  }
  maybe_pause_protocol();
}

void SocketTransport::writelines(std::span<const std::span<const std::byte>> chunks) {
  if (empty_waiter_) throw RuntimeError("unable to writelines; sendfile is in progress");
  if (eof_) throw RuntimeError("Cannot call writelines() after write_eof()");
  if (chunks.empty()) return;
  if (conn_lost_ != 0) {
    ++conn_lost_;
    return;
  }
  if (ring_) {
    uring_write(chunks);
    return;
  }
  std::size_t first = 0;   // first chunk not fully sent
  std::size_t offset = 0;  // bytes of it already sent
  if (buffer_.empty()) {
    std::ptrdiff_t n = send_chunks_now(sock_.fd(), chunks);
    if (n < 0) {
      fatal_error(make_os_error(static_cast<int>(-n)), "Fatal write error on socket transport");
      return;
    }
    auto sent = static_cast<std::size_t>(n);
    while (first < chunks.size() && sent >= chunks[first].size()) {
      sent -= chunks[first].size();
      ++first;
    }
    offset = sent;
  }
  bool was_empty = buffer_.empty();
  for (std::size_t i = first; i < chunks.size(); ++i) {
    buffer_.append(i == first ? chunks[i].subspan(offset) : chunks[i]);
  }
  if (buffer_.empty()) return;
  if (was_empty) update_interest();
  maybe_pause_protocol();
}

void SocketTransport::write_ready() noexcept {
  ssize_t n = ::send(sock_.fd(), buffer_.data(), buffer_.size(), MSG_NOSIGNAL);
  if (n < 0) {
    if (would_block(errno)) return;
    int err = errno;
    buffer_.clear();
    update_interest();
    std::exception_ptr exc = make_os_error(err);
    if (empty_waiter_ && !empty_waiter_->done()) empty_waiter_->set_exception(exc);
    fatal_error(exc, "Fatal write error on socket transport");
    return;
  }
  buffer_.consume(static_cast<std::size_t>(n));
  try {
    maybe_resume_protocol();  // may append to the buffer
  } catch (...) {
  }
  if (!buffer_.empty()) return;
  update_interest();
  write_drained();
}

void SocketTransport::write_drained() noexcept {
  if (empty_waiter_ && !empty_waiter_->done()) empty_waiter_->set_result();
  if (closing_) {
    // Python calls _call_connection_lost directly here; the loop must not see `this` freed
    // while it dispatches, so the final release is deferred (see call_connection_lost).
    ++conn_lost_;
    call_connection_lost(nullptr, /*from_io=*/true);
  } else if (eof_) {
    ::shutdown(sock_.fd(), SHUT_WR);
  }
}

void SocketTransport::write_eof() {
  if (closing_ || eof_) return;
  eof_ = true;
  if (write_idle() && ::shutdown(sock_.fd(), SHUT_WR) != 0) throw_os_error(errno);
}

void SocketTransport::pause_reading() {
  if (!is_reading()) return;
  paused_ = true;
  update_interest();
}

void SocketTransport::resume_reading() {
  if (closing_ || !paused_) return;
  paused_ = false;
  update_interest();
}

void SocketTransport::set_write_buffer_limits(std::optional<std::size_t> high,
                                              std::optional<std::size_t> low) {
  auto [hi, lo] = flowcontrol_limits(high, low);
  high_water_ = hi;
  low_water_ = lo;
  maybe_pause_protocol();
}

void SocketTransport::maybe_pause_protocol() {
  if (get_write_buffer_size() <= high_water_) return;
  if (!protocol_paused_) {
    protocol_paused_ = true;
    try {
      protocol_->pause_writing();
    } catch (...) {
      loop_->call_exception_handler(
          {"protocol.pause_writing() failed", std::current_exception(), {}});
    }
  }
}

void SocketTransport::maybe_resume_protocol() {
  if (protocol_paused_ && get_write_buffer_size() <= low_water_) {
    protocol_paused_ = false;
    try {
      protocol_->resume_writing();
    } catch (...) {
      loop_->call_exception_handler(
          {"protocol.resume_writing() failed", std::current_exception(), {}});
    }
  }
}

void SocketTransport::close() {
  if (closing_) return;
  closing_ = true;
  update_interest();
  // On io_uring, bytes handed to a send that get_write_buffer_size() does not report are, as
  // far as Python's semantics go, in the socket already: they do not delay connection_lost();
  // the fd stays open for them until the send's final CQE (linger_).
  if (write_idle() || (ring_ != nullptr && get_write_buffer_size() == 0)) {
    linger_ = !write_idle();
    ++conn_lost_;
    update_interest();
    loop_->call_soon(
        [self = self_ ? self_ : std::static_pointer_cast<SocketTransport>(shared_from_this())] {
          self->call_connection_lost(nullptr, false);
        });
  }
}

void SocketTransport::force_close(std::exception_ptr exc) {
  if (conn_lost_ != 0) return;
  buffer_.clear();
  linger_ = false;
  if (ring_) uring_cancel_all();
  closing_ = true;
  ++conn_lost_;
  update_interest();
  loop_->call_soon(
      [self = self_ ? self_ : std::static_pointer_cast<SocketTransport>(shared_from_this()),
       exc = std::move(exc)] { self->call_connection_lost(exc, false); });
}

void SocketTransport::fatal_error(std::exception_ptr exc, const char* message) noexcept {
  report_fatal_error(*loop_, exc, message);
  try {
    force_close(std::move(exc));
  } catch (...) {
    // The loop is closed: the close hook releases everything.
  }
}

void SocketTransport::call_connection_lost(std::exception_ptr exc, bool from_io) noexcept {
  if (lost_called_) return;
  lost_called_ = true;
  if (empty_waiter_ && !empty_waiter_->done()) {
    // A sendfile() waiting for the buffer to drain (Python 3.12.1 means to do this too, but
    // its waiter is already done then: InvalidStateError, and sendfile() hangs).
    try {
      empty_waiter_->set_exception(exc ? exc
                                       : std::make_exception_ptr(ConnectionError(
                                             std::string("Connection is closed by peer"))));
    } catch (...) {
    }
  }
  if (protocol_) {
    try {
      protocol_->connection_lost(exc);
    } catch (...) {
      loop_->call_exception_handler(
          {"Exception in callback Protocol.connection_lost()", std::current_exception(), {}});
    }
  }
  if (watch_read_ || watch_write_) {
    try {
      LoopAccess::unwatch_io(*loop_, sock_.fd());
    } catch (...) {
    }
    watch_read_ = watch_write_ = false;
  }
  if (fd_lent_) {
    // sock_sendfile() is registered on the fd: shut the connection down so that it wakes
    // up and fails; lend_fd(false) closes the fd once it has let go.
    ::shutdown(sock_.fd(), SHUT_RDWR);
  } else if (linger_ && send_armed_) {
    // close() left unreported bytes in flight: uring_on_send() closes the fd after them.
  } else {
    sock_.close();
  }
  protocol_.reset();
  buffered_ = nullptr;
  retired_.clear();
  if (auto server = std::move(server_)) server->detach(this);
  unlink();
  std::shared_ptr<SocketTransport> keep = std::move(self_);
  if (from_io && keep && !loop_->is_closed()) {
    // We are inside on_io(): let the loop finish dispatching before `this` may go away.
    try {
      loop_->call_soon([k = std::move(keep)] {});
    } catch (...) {
    }
  }
}

Future<void> SocketTransport::make_empty_waiter() {
  if (empty_waiter_) throw RuntimeError("Empty waiter is already set");
  Future<void> f = loop_->create_future<void>();
  if (write_idle()) f.set_result();
  empty_waiter_ = f;
  return f;
}

void SocketTransport::reset_empty_waiter() noexcept {
  empty_waiter_.reset();
}

void SocketTransport::lend_fd(bool lent) noexcept {
  if (lent) {
    // Reading is paused and the buffer is empty, so normally nothing is watched; stop
    // watching whatever is, so that sock_sendfile() can register the fd.
    if (watch_read_ || watch_write_) {
      try {
        LoopAccess::unwatch_io(*loop_, sock_.fd());
      } catch (...) {
      }
      watch_read_ = watch_write_ = false;
    }
    fd_lent_ = true;
  } else {
    fd_lent_ = false;
    if (lost_called_) {
      sock_.close();  // closed while lent (call_connection_lost)
    } else if (sock_) {
      update_interest();
    }
  }
}

void SocketTransport::on_loop_close() noexcept {
  // The loop closes with the connection still open: free everything without calling the
  // protocol (Python leaves this to the garbage collector, which closes the socket).
  std::shared_ptr<SocketTransport> keep = std::move(self_);
  closing_ = true;
  ++conn_lost_;
  lost_called_ = true;
  if (watch_read_ || watch_write_) {
    try {
      LoopAccess::unwatch_io(*loop_, sock_.fd());
    } catch (...) {
    }
    watch_read_ = watch_write_ = false;
  }
  linger_ = false;
  if (ring_) uring_cancel_all();  // their final CQEs come in drain(); hold_ keeps us till then
  sock_.close();
  buffer_.clear();
  auto proto = std::move(protocol_);
  buffered_ = nullptr;
  retired_.clear();
  proto.reset();
  if (auto server = std::move(server_)) server->detach(this);
}

}  // namespace detail
}  // namespace asyncio
