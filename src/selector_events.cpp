// Socket transports, datagram transports and the server's acceptor (Python:
// selector_events.py, base_events.Server).

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

namespace {
bool would_block(int err) noexcept {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

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
}  // namespace

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

SocketTransport::SocketTransport(EventLoop& loop, Socket sock, std::shared_ptr<Protocol> protocol,
                                 std::shared_ptr<ServerImpl> server,
                                 std::optional<SockAddr> peername)
    : loop_(&loop),
      sock_(std::move(sock)),
      server_(std::move(server)),
      peername_(std::move(peername)) {
  set_protocol(std::move(protocol));
  if (server_) server_->attach();
  // Python's _set_nodelay: small writes go out at once (fails harmlessly on Unix sockets).
  int one = 1;
  ::setsockopt(sock_.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
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
  if (server_) server_->detach();
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
  bool want_read = started_reading_ && !paused_ && !closing_ && !read_eof_ && conn_lost_ == 0;
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
    fatal_error(make_os_error(errno, "Fatal read error on socket transport"),
                "Fatal read error on socket transport");
    return;
  }
  if (n == 0) {
    on_eof();
    return;
  }
  try {
    protocol_->data_received(buf.first(static_cast<std::size_t>(n)));
  } catch (...) {
    fatal_error(std::current_exception(), "Fatal error: protocol.data_received() call failed.");
  }
}

void SocketTransport::read_ready_buffered() noexcept {
  std::span<std::byte> buf;
  try {
    buf = buffered_->get_buffer(-1);
    if (buf.empty()) throw RuntimeError("get_buffer() returned an empty buffer");
  } catch (...) {
    fatal_error(std::current_exception(), "Fatal error: protocol.get_buffer() call failed.");
    return;
  }
  ssize_t n = ::recv(sock_.fd(), buf.data(), buf.size(), 0);
  if (n < 0) {
    if (would_block(errno)) return;
    fatal_error(make_os_error(errno, "Fatal read error on socket transport"),
                "Fatal read error on socket transport");
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
  if (eof_) throw RuntimeError("Cannot call write() after write_eof()");
  if (data.empty()) return;
  if (conn_lost_ != 0) {
    if (conn_lost_ >= kLogThresholdForConnlostWrites && loop_->get_debug()) {
      std::fprintf(stderr, "asyncio: socket.send() raised exception.\n");
    }
    ++conn_lost_;
    return;
  }
  if (buffer_.empty()) {
    // Optimization: try to send now.
    ssize_t n = ::send(sock_.fd(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (!would_block(errno)) {
        fatal_error(make_os_error(errno, "Fatal write error on socket transport"),
                    "Fatal write error on socket transport");
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
  if (eof_) throw RuntimeError("Cannot call writelines() after write_eof()");
  if (chunks.empty()) return;
  if (conn_lost_ != 0) {
    ++conn_lost_;
    return;
  }
  std::size_t first = 0;   // first chunk not fully sent
  std::size_t offset = 0;  // bytes of it already sent
  if (buffer_.empty()) {
    iovec iov[64];
    std::size_t k = 0;
    for (std::size_t i = 0; i < chunks.size() && k < 64; ++i) {
      if (chunks[i].empty()) continue;
      iov[k].iov_base = const_cast<std::byte*>(chunks[i].data());
      iov[k].iov_len = chunks[i].size();
      ++k;
    }
    if (k == 0) return;
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = k;
    ssize_t n = ::sendmsg(sock_.fd(), &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (!would_block(errno)) {
        fatal_error(make_os_error(errno, "Fatal write error on socket transport"),
                    "Fatal write error on socket transport");
        return;
      }
      n = 0;
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
    fatal_error(make_os_error(err, "Fatal write error on socket transport"),
                "Fatal write error on socket transport");
    return;
  }
  buffer_.consume(static_cast<std::size_t>(n));
  try {
    maybe_resume_protocol();  // may append to the buffer
  } catch (...) {
  }
  if (!buffer_.empty()) return;
  update_interest();
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
  if (buffer_.empty() && ::shutdown(sock_.fd(), SHUT_WR) != 0)
    throw_os_error(errno, "shutdown(SHUT_WR)");
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
  if (buffer_.size() <= high_water_) return;
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
  if (protocol_paused_ && buffer_.size() <= low_water_) {
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
  if (buffer_.empty()) {
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
  sock_.close();
  protocol_.reset();
  buffered_ = nullptr;
  retired_.clear();
  if (auto server = std::move(server_)) server->detach();
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
  sock_.close();
  buffer_.clear();
  auto proto = std::move(protocol_);
  buffered_ = nullptr;
  retired_.clear();
  proto.reset();
  if (auto server = std::move(server_)) server->detach();
}

// ---- DatagramSocketTransport -----------------------------------------------------------------

DatagramSocketTransport::DatagramSocketTransport(EventLoop& loop, Socket sock,
                                                 std::shared_ptr<DatagramProtocol> protocol,
                                                 std::optional<SockAddr> address)
    : loop_(&loop),
      sock_(std::move(sock)),
      protocol_(std::move(protocol)),
      address_(std::move(address)) {
  LoopAccess::add_close_hook(loop, this);
}

DatagramSocketTransport::~DatagramSocketTransport() {
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
}

void DatagramSocketTransport::start(Future<void> waiter) {
  self_ = std::static_pointer_cast<DatagramSocketTransport>(shared_from_this());
  loop_->call_soon([self = self_, waiter = std::move(waiter)]() mutable {
    if (!self->lost_called_ && self->protocol_) {
      try {
        self->protocol_->connection_made(*self);
      } catch (...) {
        self->loop_->call_exception_handler(
            {"Exception in callback DatagramProtocol.connection_made()",
             std::current_exception(),
             {}});
      }
    }
    self->started_ = true;
    self->update_interest();
    if (waiter && !waiter.done()) waiter.set_result();
  });
}

std::any DatagramSocketTransport::get_extra_info(std::string_view name) const {
  if (!sock_.valid()) return {};
  try {
    if (name == "peername") {
      if (address_) return *address_;
      return sock_.getpeername();
    }
    if (name == "sockname") return sock_.getsockname();
    if (name == "socket") return TransportSocket(sock_.fd());
  } catch (const std::system_error&) {
  }
  return {};
}

void DatagramSocketTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  auto p = std::dynamic_pointer_cast<DatagramProtocol>(protocol);
  if (!p) throw ValueError("a datagram transport needs an asyncio::DatagramProtocol");
  protocol_ = std::move(p);
}

void DatagramSocketTransport::update_interest() noexcept {
  bool want_read = started_ && !closing_ && conn_lost_ == 0;
  bool want_write = buffer_size_ > 0 && conn_lost_ == 0 && buffer_head_ < buffer_.size();
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
    if (conn_lost_ == 0)
      fatal_error(std::current_exception(), "Fatal error: cannot watch the socket");
  }
}

void DatagramSocketTransport::on_io(bool readable, bool writable) noexcept {
  if (readable && watch_read_) read_ready();
  if (writable && watch_write_ && conn_lost_ == 0) write_ready();
}

void DatagramSocketTransport::read_ready() noexcept {
  std::span<std::byte> buf = shared_read_buffer();
  SockAddr addr;
  socklen_t len = SockAddr::capacity();
  ssize_t n = ::recvfrom(sock_.fd(), buf.data(), buf.size(), 0, addr.data(), &len);
  if (n < 0) {
    if (would_block(errno)) return;
    try {
      protocol_->error_received(make_os_error(errno, "recvfrom"));
    } catch (...) {
      fatal_error(std::current_exception(), "Fatal error: protocol.error_received() call failed.");
    }
    return;
  }
  addr.set_size(len);
  try {
    protocol_->datagram_received(buf.first(static_cast<std::size_t>(n)), addr);
  } catch (...) {
    fatal_error(std::current_exception(), "Fatal error: protocol.datagram_received() call failed.");
  }
}

void DatagramSocketTransport::sendto(std::span<const std::byte> data, const SockAddr& addr_in) {
  if (data.empty()) return;
  const SockAddr* addr = &addr_in;
  if (address_) {
    if (!addr_in.empty() && !(addr_in == *address_)) {
      throw ValueError("Invalid address: must be None or " + address_->to_string());
    }
    addr = nullptr;  // connected socket: send()
  }
  if (conn_lost_ != 0 && address_) {
    ++conn_lost_;
    return;
  }
  if (closing_ && conn_lost_ != 0) return;
  if (buffer_head_ == buffer_.size()) {
    ssize_t n = (addr == nullptr || addr->empty())
                    ? ::send(sock_.fd(), data.data(), data.size(), MSG_NOSIGNAL)
                    : ::sendto(sock_.fd(), data.data(), data.size(), MSG_NOSIGNAL, addr->data(),
                               addr->size());
    if (n >= 0) return;
    if (!would_block(errno)) {
      int err = errno;
      try {
        protocol_->error_received(make_os_error(err, "sendto"));
      } catch (...) {
        fatal_error(std::current_exception(),
                    "Fatal error: protocol.error_received() call failed.");
      }
      return;
    }
  }
  Pending p;
  p.data.assign(data.begin(), data.end());
  if (addr) p.addr = *addr;
  buffer_.push_back(std::move(p));
  buffer_size_ += data.size();
  update_interest();
  maybe_pause_protocol();
}

void DatagramSocketTransport::write_ready() noexcept {
  while (buffer_head_ < buffer_.size()) {
    Pending& p = buffer_[buffer_head_];
    ssize_t n = p.addr.empty() ? ::send(sock_.fd(), p.data.data(), p.data.size(), MSG_NOSIGNAL)
                               : ::sendto(sock_.fd(), p.data.data(), p.data.size(), MSG_NOSIGNAL,
                                          p.addr.data(), p.addr.size());
    if (n < 0 && would_block(errno)) break;
    buffer_size_ -= p.data.size();
    ++buffer_head_;
    if (n < 0) {
      int err = errno;
      try {
        protocol_->error_received(make_os_error(err, "sendto"));
      } catch (...) {
        fatal_error(std::current_exception(),
                    "Fatal error: protocol.error_received() call failed.");
      }
      return;
    }
  }
  if (buffer_head_ == buffer_.size()) {
    buffer_.clear();
    buffer_head_ = 0;
  }
  try {
    maybe_resume_protocol();
  } catch (...) {
  }
  if (buffer_head_ == buffer_.size()) {
    update_interest();
    if (closing_) {
      ++conn_lost_;
      auto keep = self_;
      try {
        loop_->call_soon([keep] { keep->call_connection_lost(nullptr); });
      } catch (...) {
      }
    }
  }
}

void DatagramSocketTransport::maybe_pause_protocol() {
  if (buffer_size_ <= high_water_ || protocol_paused_) return;
  protocol_paused_ = true;
  try {
    protocol_->pause_writing();
  } catch (...) {
    loop_->call_exception_handler(
        {"protocol.pause_writing() failed", std::current_exception(), {}});
  }
}

void DatagramSocketTransport::maybe_resume_protocol() {
  if (protocol_paused_ && buffer_size_ <= low_water_) {
    protocol_paused_ = false;
    try {
      protocol_->resume_writing();
    } catch (...) {
      loop_->call_exception_handler(
          {"protocol.resume_writing() failed", std::current_exception(), {}});
    }
  }
}

void DatagramSocketTransport::close() {
  if (closing_) return;
  closing_ = true;
  update_interest();
  if (buffer_head_ == buffer_.size()) {
    ++conn_lost_;
    update_interest();
    auto keep =
        self_ ? self_ : std::static_pointer_cast<DatagramSocketTransport>(shared_from_this());
    loop_->call_soon([keep] { keep->call_connection_lost(nullptr); });
  }
}

void DatagramSocketTransport::force_close(std::exception_ptr exc) noexcept {
  if (conn_lost_ != 0) return;
  buffer_.clear();
  buffer_head_ = 0;
  buffer_size_ = 0;
  closing_ = true;
  ++conn_lost_;
  update_interest();
  auto keep = self_ ? self_ : std::static_pointer_cast<DatagramSocketTransport>(shared_from_this());
  try {
    loop_->call_soon([keep, exc = std::move(exc)] { keep->call_connection_lost(exc); });
  } catch (...) {
  }
}

void DatagramSocketTransport::fatal_error(std::exception_ptr exc, const char* message) noexcept {
  report_fatal_error(*loop_, exc, message);
  force_close(std::move(exc));
}

void DatagramSocketTransport::call_connection_lost(std::exception_ptr exc) noexcept {
  if (lost_called_) return;
  lost_called_ = true;
  if (protocol_) {
    try {
      protocol_->connection_lost(exc);
    } catch (...) {
      loop_->call_exception_handler({"Exception in callback DatagramProtocol.connection_lost()",
                                     std::current_exception(),
                                     {}});
    }
  }
  if (watch_read_ || watch_write_) {
    try {
      LoopAccess::unwatch_io(*loop_, sock_.fd());
    } catch (...) {
    }
    watch_read_ = watch_write_ = false;
  }
  sock_.close();
  protocol_.reset();
  unlink();
  std::shared_ptr<DatagramSocketTransport> keep =
      std::move(self_);  // callers hold another reference
}

void DatagramSocketTransport::on_loop_close() noexcept {
  std::shared_ptr<DatagramSocketTransport> keep = std::move(self_);
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
  sock_.close();
  buffer_.clear();
  auto proto = std::move(protocol_);
  proto.reset();
}

// ---- Acceptor --------------------------------------------------------------------------------

void Acceptor::start() {
  if (watching_) return;
  LoopAccess::watch_io(*server_->loop_, sock_.fd(), this, true, false);
  watching_ = true;
}

void Acceptor::stop() noexcept {
  retry_.cancel();
  if (!watching_) return;
  watching_ = false;
  try {
    LoopAccess::unwatch_io(*server_->loop_, sock_.fd());
  } catch (...) {
  }
}

void Acceptor::close() noexcept {
  stop();
  sock_.close();
}

void Acceptor::on_io(bool readable, bool /*writable*/) noexcept {
  if (!readable || !watching_) return;
  // The protocol factory runs inside this loop (accept_connection) and may close the server,
  // which drops its acceptors and may drop the server itself: both stay alive until we return.
  // close() sets watching_ to false, which ends the loop.
  std::shared_ptr<Acceptor> keep_self = shared_from_this();
  std::shared_ptr<ServerImpl> keep_server = server_->shared_from_this();
  // Python: accept up to `backlog` connections per readiness event.
  for (int i = 0; i < keep_server->backlog_ && watching_; ++i) {
    SockAddr addr;
    socklen_t len = SockAddr::capacity();
    int fd = ::accept4(sock_.fd(), addr.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (would_block(err) || err == ECONNABORTED) return;  // early-closed connections too
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        // Out of fds or memory: stop accepting for a while instead of spinning the loop on a
        // listening socket that stays readable (Python: ACCEPT_RETRY_DELAY).
        EventLoop& loop = *keep_server->loop_;
        loop.call_exception_handler(
            {"socket.accept() out of system resource", make_os_error(err, "accept"), {}});
        stop();
        try {
          std::weak_ptr<ServerImpl> weak_server = keep_server;
          std::weak_ptr<Acceptor> weak_self = keep_self;
          retry_ = loop.call_later(Duration(kAcceptRetryDelay), [weak_server, weak_self] {
            auto server = weak_server.lock();
            auto self = weak_self.lock();
            if (!server || !self || !server->serving_) return;
            try {
              self->start();
            } catch (...) {
              server->loop_->call_exception_handler(
                  {"cannot resume accepting", std::current_exception(), {}});
            }
          });
        } catch (...) {
        }
        return;
      }
      keep_server->loop_->call_exception_handler(
          {"Exception in accept()", make_os_error(err, "accept"), {}});
      return;
    }
    addr.set_size(len);
    keep_server->accept_connection(Socket(fd), addr);
  }
}

// ---- ServerImpl ------------------------------------------------------------------------------

ServerImpl::ServerImpl(EventLoop& loop, std::vector<Socket> sockets, ProtocolFactory factory,
                       std::shared_ptr<SSLContext> ssl, int backlog,
                       std::optional<Duration> ssl_handshake_timeout,
                       std::optional<Duration> ssl_shutdown_timeout)
    : loop_(&loop),
      factory_(std::move(factory)),
      ssl_(std::move(ssl)),
      backlog_(backlog),
      ssl_handshake_timeout_(ssl_handshake_timeout),
      ssl_shutdown_timeout_(ssl_shutdown_timeout) {
  for (auto& s : sockets) acceptors_.push_back(std::make_shared<Acceptor>(*this, std::move(s)));
  LoopAccess::add_close_hook(loop, this);
}

ServerImpl::~ServerImpl() {
  unlink();
  for (auto& a : acceptors_) a->close();
}

std::vector<TransportSocket> ServerImpl::sockets() const {
  std::vector<TransportSocket> out;
  if (closed_) return out;
  for (const auto& a : acceptors_) out.emplace_back(a->fd());
  return out;
}

void ServerImpl::start_serving() {
  if (serving_ || closed_) return;
  serving_ = true;
  self_ = shared_from_this();
  for (auto& a : acceptors_) {
    a->socket().listen(backlog_);
    a->start();
  }
}

void ServerImpl::close() {
  if (closed_) return;
  closed_ = true;
  // Close the listening sockets now (an acceptor running its callback keeps its object alive).
  for (auto& a : acceptors_) a->close();
  acceptors_.clear();
  serving_ = false;
  if (serving_forever_fut_ && !serving_forever_fut_.done()) {
    serving_forever_fut_.cancel();
    serving_forever_fut_ = {};
  }
  if (active_count_ == 0) wakeup();
  // Connections keep the server alive through their own references; the loop's goes.
  std::shared_ptr<ServerImpl> keep = std::move(self_);
  if (keep) {
    try {
      loop_->call_soon([k = std::move(keep)] {});
    } catch (...) {
    }
  }
}

void ServerImpl::detach() noexcept {
  if (active_count_ > 0) --active_count_;
  if (active_count_ == 0 && closed_) {
    try {
      wakeup();
    } catch (...) {
    }
  }
}

void ServerImpl::wakeup() {
  if (!waiters_) return;
  std::vector<Future<void>> waiters = std::move(*waiters_);
  waiters_.reset();
  for (auto& w : waiters) {
    if (!w.done()) w.set_result();
  }
}

Coro<void> ServerImpl::serve_forever() {
  if (serving_forever_fut_)
    throw RuntimeError("server is already being awaited on serve_forever()");
  if (closed_) throw RuntimeError("server is closed");
  start_serving();
  serving_forever_fut_ = loop_->create_future<void>();
  std::shared_ptr<ServerImpl> keep = shared_from_this();
  bool cancelled = false;
  std::optional<CancelledError> error;
  try {
    co_await serving_forever_fut_;
  } catch (const CancelledError& e) {
    cancelled = true;
    error = e;
  }
  serving_forever_fut_ = {};
  if (cancelled) {
    close();
    co_await wait_closed();  // a second cancellation here propagates as is
    throw *error;
  }
}

Coro<void> ServerImpl::wait_closed() {
  if (!waiters_) co_return;
  Future<void> waiter = loop_->create_future<void>();
  waiters_->push_back(waiter);
  std::shared_ptr<ServerImpl> keep = shared_from_this();
  co_await waiter;
}

void ServerImpl::on_loop_close() noexcept {
  std::shared_ptr<ServerImpl> keep = std::move(self_);
  closed_ = true;
  serving_ = false;
  for (auto& a : acceptors_) a->close();
  acceptors_.clear();
  waiters_.reset();
  serving_forever_fut_ = {};
}

void ServerImpl::accept_connection(Socket conn, const SockAddr& peer) noexcept {
  std::shared_ptr<Protocol> protocol;
  try {
    protocol = factory_();
    if (!protocol) throw RuntimeError("protocol factory returned null");
    if (ssl_) {
      auto ssl_protocol = make_ssl_protocol(
          *loop_, std::move(protocol), ssl_, Future<void>(), /*server_side=*/true, std::nullopt,
          /*call_connection_made=*/true, ssl_handshake_timeout_, ssl_shutdown_timeout_);
      auto t = std::make_shared<SocketTransport>(*loop_, std::move(conn), ssl_protocol,
                                                 shared_from_this(), peer);
      t->start();
    } else {
      auto t = std::make_shared<SocketTransport>(*loop_, std::move(conn), std::move(protocol),
                                                 shared_from_this(), peer);
      t->start();
    }
  } catch (...) {
    // `conn` (if not adopted yet) is closed by its destructor.
    if (loop_->get_debug()) {
      loop_->call_exception_handler(
          {"Error on transport creation for incoming connection", std::current_exception(), {}});
    } else if (!is_os_error(std::current_exception())) {
      loop_->call_exception_handler(
          {"Error on transport creation for incoming connection", std::current_exception(), {}});
    }
  }
}

}  // namespace detail

// ---- Server (public handle) ------------------------------------------------------------------

EventLoop& Server::get_loop() const {
  return impl_->loop();
}
bool Server::is_serving() const noexcept {
  return impl_ && impl_->is_serving();
}
std::vector<TransportSocket> Server::sockets() const {
  return impl_ ? impl_->sockets() : std::vector<TransportSocket>{};
}
void Server::close() {
  if (impl_) impl_->close();
}
Coro<void> Server::start_serving() {
  impl_->start_serving();
  co_await sleep(0s);  // let the registrations go through, as Python
}
Coro<void> Server::serve_forever() {
  return impl_->serve_forever();
}
Coro<void> Server::wait_closed() {
  return impl_->wait_closed();
}

}  // namespace asyncio
