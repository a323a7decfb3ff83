// The completion-based path of the stream socket transport on the io_uring backend
// (SocketTransport with ring_ != nullptr; the readiness path is in selector_events.cpp, and
// everything the protocol sees, from connection_made() to connection_lost(), is shared).
//
// Reading: one multishot recv (IORING_RECV_MULTISHOT) picking buffers from the ring's
// provided-buffer group stays armed while the transport reads. Each CQE's bytes go to the
// protocol straight from the provided buffer, which is recycled at once. pause_reading()
// cancels the recv; CQEs that still carry data (the kernel filled them before it saw the
// cancel) are kept in held_ and delivered, in order, by resume_reading() before the recv is
// armed again. -ENOBUFS (the group ran dry) ends the multishot: it is armed again.
//
// Writing: one send in flight per transport, on out_; what is written meanwhile goes to
// buffer_ and becomes the next send when the current one completes. A send is prepared when
// write() is called and submitted with everything else by the loop's next poll (one system
// call per loop iteration for all transports). A short send continues with the rest.
//
// Ownership (reactor.hpp): while an operation is in flight, hold_ keeps the transport alive,
// so the Completion members and out_ outlive the kernel's use of them.

#include <liburing.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "selector_events.hpp"

namespace asyncio::detail {

namespace {
/// A write of at most this many bytes while nothing is buffered is handed to a send without
/// trying the socket first and is not reported by get_write_buffer_size() unless the send
/// comes back short (Python would have sent it at once). Larger writes first try the socket
/// synchronously, as Python does, so that flow control sees what the socket did not take.
constexpr std::size_t kDirectWriteMax = 64 * 1024;

/// Provided buffers lent to sends (zero-copy writes of received bytes) on this thread, at most
/// kMaxLent: a send to a peer that does not read holds its buffer, and the group must keep
/// enough for the receives of every other connection.
thread_local int lent_buffers = 0;
constexpr int kMaxLent = 128;  // of the group's 256 (uring_reactor.cpp)

bool within(std::span<const std::byte> inner, std::span<const std::byte> outer) noexcept {
  auto b = reinterpret_cast<std::uintptr_t>(inner.data());
  auto ob = reinterpret_cast<std::uintptr_t>(outer.data());
  return b >= ob && b + inner.size() <= ob + outer.size();
}
}  // namespace

void SocketTransport::release_lent() noexcept {
  if (lent_.data() == nullptr) return;
  ring_->recycle(lent_id_);
  lent_ = {};
  --lent_buffers;
}

void SocketTransport::deliver(std::span<const std::byte> data) noexcept {
  if (buffered_ == nullptr) {
    try {
      protocol_->data_received(data);
    } catch (...) {
      fatal_error(std::current_exception(), "Fatal error: protocol.data_received() call failed.");
    }
    return;
  }
  while (!data.empty()) {
    std::span<std::byte> buf = protocol_buffer();
    if (buf.empty()) return;
    std::size_t n = std::min(buf.size(), data.size());
    std::memcpy(buf.data(), data.data(), n);
    try {
      buffered_->buffer_updated(n);
    } catch (...) {
      fatal_error(std::current_exception(), "Fatal error: protocol.buffer_updated() call failed.");
      return;
    }
    data = data.subspan(n);
    if (data.empty() || conn_lost_ != 0 || closing_ || protocol_ == nullptr) return;
    if (paused_) {
      // The protocol paused with bytes left over: they were received already, keep them
      // (ahead of anything held) for resume_reading().
      held_.insert(held_.begin(), data.begin(), data.end());
      return;
    }
    if (buffered_ == nullptr) {  // set_protocol() to a plain Protocol meanwhile
      deliver(data);
      return;
    }
  }
}

void SocketTransport::op_started() {
  if (ops_in_flight_++ == 0) {
    hold_ = std::static_pointer_cast<SocketTransport>(shared_from_this());
  }
}

std::shared_ptr<SocketTransport> SocketTransport::op_finished() noexcept {
  if (--ops_in_flight_ == 0) return std::move(hold_);
  return nullptr;
}

// ---- Reading ---------------------------------------------------------------------------------

void SocketTransport::uring_update_reading(bool want_read) noexcept {
  if (!want_read) {
    if (recv_armed_ && !recv_cancelling_) {
      try {
        ring_->cancel(&recv_op_);
        recv_cancelling_ = true;
      } catch (...) {
        // The final CQE will still come; data it carries is held until resume_reading().
      }
    }
    return;
  }
  // Held bytes go first; the recv is armed again once they are delivered.
  if (recv_armed_ || ring_stopped_ || held_scheduled_ || !held_.empty() || held_eof_ != 1) {
    if (!recv_armed_ && !held_scheduled_ && (!held_.empty() || held_eof_ != 1)) {
      held_scheduled_ = true;
      try {
        loop_->call_soon([self = std::static_pointer_cast<SocketTransport>(shared_from_this())] {
          self->uring_deliver_held();
        });
      } catch (...) {
        held_scheduled_ = false;  // the loop is closed: nothing will be read any more
      }
    }
    return;
  }
  try {
    op_started();
    io_uring_sqe* sqe = nullptr;
    try {
      const std::uint16_t group = ring_->buffer_group();  // before prepare(): no half SQE
      sqe = ring_->prepare(&recv_op_);
      io_uring_prep_recv_multishot(sqe, sock_.fd(), nullptr, 0, 0);
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = group;
    } catch (...) {
      auto keep = op_finished();
      throw;
    }
    recv_armed_ = true;
  } catch (...) {
    fatal_error(std::current_exception(), "Fatal error: cannot watch the socket");
  }
}

void SocketTransport::RecvOp::on_complete(int res, std::uint32_t flags) noexcept {
  t->uring_on_recv(res, flags);
}

void SocketTransport::uring_on_recv(int res, std::uint32_t flags) noexcept {
  const bool final = (flags & IORING_CQE_F_MORE) == 0;
  std::shared_ptr<SocketTransport> keep;  // released last: may free `this`
  if (final) {
    if (res == -ECANCELED && !recv_cancelling_) ring_stopped_ = true;  // drain(): loop closing
    recv_armed_ = false;
    recv_cancelling_ = false;
    keep = op_finished();
  }
  if ((flags & IORING_CQE_F_BUFFER) != 0) {
    const auto id = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    bool lent = false;
    if (res > 0) {
      delivering_ = ring_->buffer(id).first(static_cast<std::size_t>(res));
      delivering_id_ = id;
      uring_on_data(delivering_);
      lent = lent_.data() != nullptr && lent_id_ == id && within(lent_, delivering_);
      delivering_ = {};
    }
    if (!lent) ring_->recycle(id);  // else when the send that took it completes
  } else if (res == 0 || (res < 0 && res != -ECANCELED && res != -ENOBUFS)) {
    if (lost_called_ || conn_lost_ != 0 || closing_) return;  // reading is over anyway
    if (!paused_ && !held_scheduled_ && held_.empty()) {
      if (res == 0) {
        on_eof();
      } else {
        fatal_error(make_os_error(-res), "Fatal read error on socket transport");
      }
      return;
    }
    held_eof_ = res;  // after the held bytes (update_interest() schedules them if reading)
  }
  if (final && !lost_called_) update_interest();  // arms the recv again if still reading
}

void SocketTransport::uring_on_data(std::span<const std::byte> data) noexcept {
  if (lost_called_ || conn_lost_ != 0 || closing_) return;  // as if never read
  if (paused_ || held_scheduled_ || !held_.empty()) {
    // The pause_reading() race: the kernel filled this before it saw the cancel.
    held_.insert(held_.end(), data.begin(), data.end());
    return;
  }
  deliver(data);
}

void SocketTransport::uring_deliver_held() noexcept {
  held_scheduled_ = false;
  if (lost_called_ || conn_lost_ != 0 || closing_) return;
  if (paused_) return;  // paused again: the next resume_reading() comes back here
  std::vector<std::byte> data = std::move(held_);
  held_.clear();
  if (!data.empty()) deliver(data);  // a tail the protocol did not take goes back to held_
  if (held_.empty() && held_eof_ != 1 && !paused_ && conn_lost_ == 0 && !closing_) {
    const int res = std::exchange(held_eof_, 1);
    if (res == 0) {
      on_eof();
    } else {
      fatal_error(make_os_error(-res), "Fatal read error on socket transport");
    }
    return;
  }
  if (!lost_called_) update_interest();
}

// ---- Writing ---------------------------------------------------------------------------------

void SocketTransport::uring_write(std::span<const std::span<const std::byte>> chunks) {
  std::size_t total = 0;
  for (const auto& c : chunks) total += c.size();
  if (total == 0) return;
  if (send_armed_ || !out_.empty() || !buffer_.empty()) {
    // A send is in flight on out_: queue behind it. Bytes written while everything so far is
    // uncounted stay uncounted up to kDirectWriteMax (the kernel is taking what it is given).
    const bool all_uncounted = get_write_buffer_size() == 0;
    for (const auto& c : chunks) buffer_.append(c);
    if (all_uncounted && uncounted_ + total <= kDirectWriteMax) {
      uncounted_ += total;
    } else {
      maybe_pause_protocol();
    }
    return;
  }
  if (total <= kDirectWriteMax) {
    if (chunks.size() == 1 && !delivering_.empty() && within(chunks[0], delivering_) &&
        lent_.data() == nullptr && lent_buffers < kMaxLent) {
      // Bytes of the provided buffer being delivered (an echo, a proxy writing back what it
      // read): send them from there and keep the buffer out of the group until the send
      // completes, instead of copying them.
      lent_ = chunks[0];
      lent_id_ = delivering_id_;
      ++lent_buffers;
      uncounted_ = total;
      uring_start_send();
      return;
    }
    for (const auto& c : chunks) out_.append(c);
    uncounted_ = total;
    uring_start_send();
    return;
  }
  // A large write: try the socket now (Python's optimization: no copy of what it takes).
  std::ptrdiff_t n = send_chunks_now(sock_.fd(), chunks);
  if (n < 0) {
    fatal_error(make_os_error(static_cast<int>(-n)), "Fatal write error on socket transport");
    return;
  }
  auto skip = static_cast<std::size_t>(n);
  for (const auto& c : chunks) {
    if (skip >= c.size()) {
      skip -= c.size();
      continue;
    }
    out_.append(c.subspan(skip));
    skip = 0;
  }
  if (out_.empty()) return;
  uncounted_ = 0;
  uring_start_send();
  maybe_pause_protocol();
}

void SocketTransport::uring_start_send() noexcept {
  try {
    op_started();
    try {
      io_uring_sqe* sqe = ring_->prepare(&send_op_);
      if (lent_.data() != nullptr) {
        io_uring_prep_send(sqe, sock_.fd(), lent_.data(), lent_.size(), MSG_NOSIGNAL);
      } else {
        io_uring_prep_send(sqe, sock_.fd(), out_.data(), out_.size(), MSG_NOSIGNAL);
      }
    } catch (...) {
      auto keep = op_finished();
      throw;
    }
    send_armed_ = true;
  } catch (...) {
    release_lent();
    out_.clear();
    buffer_.clear();
    uncounted_ = 0;
    fatal_error(std::current_exception(), "Fatal write error on socket transport");
  }
}

void SocketTransport::SendOp::on_complete(int res, std::uint32_t /*flags*/) noexcept {
  t->uring_on_send(res);
}

void SocketTransport::uring_on_send(int res) noexcept {
  send_armed_ = false;
  std::shared_ptr<SocketTransport> keep = op_finished();  // released last: may free `this`
  const bool was_lent = lent_.data() != nullptr;
  if (was_lent) {
    // The send used a lent provided buffer: what the kernel did not take moves to out_ (empty
    // while a lent buffer is in flight), and the buffer goes back to the group.
    if (res >= 0) {
      out_.append(lent_.subspan(std::min(static_cast<std::size_t>(res), lent_.size())));
    }
    release_lent();
  }
  if (linger_) {
    // close() already let connection_lost() go: finish the unreported bytes, then close.
    if (res >= 0) {
      if (!was_lent) out_.consume(static_cast<std::size_t>(res));
      if (out_.empty()) out_.swap(buffer_);
      if (!out_.empty() && sock_.valid()) {
        uring_start_send();
        if (send_armed_) return;
      }
    }
    linger_ = false;
    out_.clear();
    buffer_.clear();
    uncounted_ = 0;
    if (lost_called_ && !fd_lent_) sock_.close();
    return;
  }
  if (conn_lost_ != 0 || lost_called_) {
    // Aborted (or the loop closed): what was not sent is dropped, as Python's _force_close.
    out_.clear();
    buffer_.clear();
    uncounted_ = 0;
    return;
  }
  if (res < 0) {
    out_.clear();
    buffer_.clear();
    uncounted_ = 0;
    std::exception_ptr exc = make_os_error(-res);
    if (empty_waiter_ && !empty_waiter_->done()) empty_waiter_->set_exception(exc);
    fatal_error(exc, "Fatal write error on socket transport");
    return;
  }
  const auto n = static_cast<std::size_t>(res);
  if (!was_lent) out_.consume(n);
  if (!out_.empty()) {
    // Short: the socket is full. From now on what is left counts as buffered (Python's
    // write() would have buffered it), and the rest goes in the next send.
    uncounted_ = 0;
    uring_start_send();
    try {
      maybe_pause_protocol();
    } catch (...) {
    }
    return;
  }
  uncounted_ = n >= uncounted_ ? 0 : std::min(uncounted_ - n, buffer_.size());
  if (!buffer_.empty()) {
    out_.swap(buffer_);
    uring_start_send();
  }
  try {
    maybe_resume_protocol();  // may write: goes behind the send just started
  } catch (...) {
  }
  if (!write_idle() || conn_lost_ != 0) return;
  write_drained();
}

void SocketTransport::uring_cancel_all() noexcept {
  try {
    if (recv_armed_ && !recv_cancelling_) {
      ring_->cancel(&recv_op_);
      recv_cancelling_ = true;
    }
    if (send_armed_) {
      // Bytes not reported as buffered are, for Python, already in the socket (its write()
      // sent them at once): let the kernel try them now, before the cancel reaches them.
      if (uncounted_ >= out_.size()) ring_->submit();
      ring_->cancel(&send_op_);
    }
  } catch (...) {
    // drain() cancels what is left when the loop closes.
  }
  // out_ belongs to the kernel until the send's final CQE; it is no longer reported.
  if (!send_armed_) out_.clear();
  uncounted_ = out_.size() + lent_.size();
  held_.clear();
  held_eof_ = 1;
}

}  // namespace asyncio::detail
