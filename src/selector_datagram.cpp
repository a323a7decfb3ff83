// Datagram socket transports (Python: selector_events.py's _SelectorDatagramTransport).

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "selector_events.hpp"

namespace asyncio::detail {

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
      protocol_->error_received(make_os_error(errno));
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
        protocol_->error_received(make_os_error(err));
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
        protocol_->error_received(make_os_error(err));
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

}  // namespace asyncio::detail
