// The server: its listening sockets' acceptors and the Server handle (Python:
// base_events.Server, selector_events.py's _accept_connection/_accept_connection2).

#include <liburing.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "asyncio/tasks.hpp"
#include "selector_events.hpp"

using namespace std::chrono_literals;

namespace asyncio {
namespace detail {

// ---- Acceptor --------------------------------------------------------------------------------

Acceptor::Acceptor(ServerImpl& server, Socket sock) : server_(&server), sock_(std::move(sock)) {
  ring_ = LoopAccess::ring(server.loop());
}

void Acceptor::start() {
  if (watching_) return;
  if (ring_) {
    watching_ = true;
    if (!armed_) arm();  // else the cancelled accept's final CQE arms it again
    return;
  }
  LoopAccess::watch_io(*server_->loop_, sock_.fd(), this, true, false);
  watching_ = true;
}

void Acceptor::stop() noexcept {
  retry_.cancel();
  if (!watching_) return;
  watching_ = false;
  if (ring_) {
    if (armed_ && !cancelling_) {
      try {
        ring_->cancel(&op_);
        cancelling_ = true;
      } catch (...) {
        // Connections accepted meanwhile are closed when their CQEs come (not watching).
      }
    }
    return;
  }
  try {
    LoopAccess::unwatch_io(*server_->loop_, sock_.fd());
  } catch (...) {
  }
}

void Acceptor::close() noexcept {
  stop();
  // An accept in flight holds the listening socket open until its final CQE: stop listening
  // now, so that new connections are refused at once, as after close() on the readiness path.
  if (ring_ && armed_ && sock_.valid()) ::shutdown(sock_.fd(), SHUT_RDWR);
  sock_.close();
}

void Acceptor::accept_failed(int err) noexcept {
  EventLoop& loop = *server_->loop_;
  if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
    // Out of fds or memory: stop accepting for a while instead of spinning the loop on a
    // listening socket that stays readable (Python: ACCEPT_RETRY_DELAY).
    loop.call_exception_handler({"socket.accept() out of system resource", make_os_error(err), {}});
    stop();
    try {
      std::weak_ptr<ServerImpl> weak_server = server_->shared_from_this();
      std::weak_ptr<Acceptor> weak_self = shared_from_this();
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
  loop.call_exception_handler({"Exception in accept()", make_os_error(err), {}});
}

// ---- The io_uring path: multishot accept ----------------------------------------------------

void Acceptor::arm() noexcept {
  if (ring_stopped_ || !sock_.valid()) return;
  try {
    io_uring_sqe* sqe = ring_->prepare(&op_);
    io_uring_prep_multishot_accept(sqe, sock_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    armed_ = true;
    hold_ = shared_from_this();
  } catch (...) {
    watching_ = false;
    server_->loop_->call_exception_handler(
        {"cannot resume accepting", std::current_exception(), {}});
  }
}

void Acceptor::AcceptOp::on_complete(int res, std::uint32_t flags) noexcept {
  a->on_accept(res, flags);
}

void Acceptor::on_accept(int res, std::uint32_t flags) noexcept {
  std::shared_ptr<Acceptor> keep_self;  // released last: may free `this`
  if ((flags & IORING_CQE_F_MORE) == 0) {
    if (res == -ECANCELED && !cancelling_) ring_stopped_ = true;  // drain(): loop closing
    armed_ = false;
    cancelling_ = false;
    keep_self = std::move(hold_);
  }
  if (res >= 0) {
    Socket conn(res);  // closed at once when the server no longer accepts (a close() race)
    if (watching_) {
      std::shared_ptr<ServerImpl> keep_server = server_->shared_from_this();
      SockAddr peer;
      try {
        peer = conn.getpeername();  // a multishot accept cannot fill one address per CQE
      } catch (const std::system_error&) {
      }
      keep_server->accept_connection(std::move(conn), peer);
    }
  } else if (watching_ && res != -ECANCELED && res != -EAGAIN && res != -ECONNABORTED) {
    std::shared_ptr<ServerImpl> keep_server = server_->shared_from_this();
    accept_failed(-res);
  }
  if (watching_ && !armed_) arm();
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
      accept_failed(err);
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

void ServerImpl::attach(SocketTransport* transport) {
  clients_.insert(transport);
  ++active_count_;
}

void ServerImpl::close_clients(bool abort) {
  // Python iterates over a copy: closing one connection may end others (or itself) at once.
  std::vector<std::shared_ptr<BaseTransport>> live;
  live.reserve(clients_.size());
  for (SocketTransport* t : clients_) {
    if (auto p = t->weak_from_this().lock()) live.push_back(std::move(p));
  }
  for (auto& t : live) {
    auto* transport = static_cast<SocketTransport*>(t.get());
    if (!clients_.contains(transport)) continue;
    if (abort) {
      transport->abort();
    } else {
      transport->close();
    }
  }
}

void ServerImpl::detach(SocketTransport* transport) noexcept {
  clients_.erase(transport);
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
void Server::close_clients() {
  if (impl_) impl_->close_clients(false);
}
void Server::abort_clients() {
  if (impl_) impl_->close_clients(true);
}

Coro<void> Server::aexit(std::exception_ptr) {
  Server self = *this;  // the handle may be a temporary of the caller's
  self.close();
  co_await self.wait_closed();
}

}  // namespace asyncio
