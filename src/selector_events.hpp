// Internal: the socket transports (selector_events.cpp, selector_datagram.cpp) and the server
// with its acceptors (server.cpp) (Python: selector_events.py's _SelectorSocketTransport,
// _SelectorDatagramTransport, _accept_connection; base_events.Server). Not a public header.
#pragma once

#include <cerrno>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "asyncio/detail/loop_access.hpp"
#include "asyncio/futures.hpp"
#include "asyncio/net.hpp"
#include "asyncio/transports.hpp"
#include "reactor.hpp"

namespace asyncio::detail {

/// Python constants.
inline constexpr std::size_t kMaxReadSize = 256 * 1024;   // selector_events max_size
inline constexpr int kLogThresholdForConnlostWrites = 5;  // constants.py
inline constexpr double kAcceptRetryDelay = 1.0;          // constants.ACCEPT_RETRY_DELAY
inline constexpr double kSslHandshakeTimeout = 60.0;
inline constexpr double kSslShutdownTimeout = 30.0;

/// The per-thread receive buffer every socket transport reads into before calling
/// data_received(): one 256 KiB buffer per thread instead of one per connection.
std::span<std::byte> shared_read_buffer() noexcept;

/// Python's _set_write_buffer_limits / add_flowcontrol_defaults.
std::pair<std::size_t, std::size_t> flowcontrol_limits(std::optional<std::size_t> high,
                                                       std::optional<std::size_t> low,
                                                       std::size_t default_high_kb = 64);

/// A non-blocking socket call found nothing to do (try again when ready).
inline bool would_block(int err) noexcept {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/// Sends as much of `chunks` as the socket takes now, in one sendmsg() (up to 64 chunks; empty
/// ones skipped): the number of bytes sent (0 when it would block), or -errno on an error.
std::ptrdiff_t send_chunks_now(int fd, std::span<const std::span<const std::byte>> chunks) noexcept;

/// `e` holds an OSError (a std::system_error).
bool is_os_error(const std::exception_ptr& e) noexcept;

/// Reports `exc` as a fatal transport error: OSErrors only in debug mode (as Python), anything
/// else through the loop's exception handler.
void report_fatal_error(EventLoop& loop, const std::exception_ptr& exc, const char* message);

/// Write buffer: contiguous bytes with a consumed prefix; keeps its capacity across drains
/// (allocation-free in the steady state) but gives large capacity back once drained.
class WriteBuffer {
 public:
  bool empty() const noexcept { return head_ == data_.size(); }
  std::size_t size() const noexcept { return data_.size() - head_; }
  const std::byte* data() const noexcept { return data_.data() + head_; }
  void append(std::span<const std::byte> bytes);
  void consume(std::size_t n) noexcept;
  void clear() noexcept;
  void swap(WriteBuffer& o) noexcept {
    data_.swap(o.data_);
    std::swap(head_, o.head_);
  }

 private:
  std::vector<std::byte> data_;
  std::size_t head_ = 0;
};

class ServerImpl;

/// Python: _SelectorSocketTransport (TCP and Unix stream sockets).
class SocketTransport final : public Transport, public IoHandler, public LoopCloseHook {
 public:
  SocketTransport(EventLoop& loop, Socket sock, std::shared_ptr<Protocol> protocol,
                  std::shared_ptr<ServerImpl> server = nullptr,
                  std::optional<SockAddr> peername = std::nullopt);
  ~SocketTransport() override;

  /// Python's constructor tail: schedules connection_made(), then reading, then the waiter.
  /// Must be called once, right after construction (needs shared_from_this()).
  void start(Future<void> waiter = {});

  // BaseTransport
  std::any get_extra_info(std::string_view name) const override;
  bool is_closing() const noexcept override { return closing_; }
  void close() override;
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override;
  std::shared_ptr<BaseProtocol> get_protocol() const override { return protocol_; }

  // Transport
  bool is_reading() const noexcept override { return !paused_ && !closing_; }
  void pause_reading() override;
  void resume_reading() override;
  void write(std::span<const std::byte> data) override;
  using Transport::write;
  void writelines(std::span<const std::span<const std::byte>> chunks) override;
  using Transport::writelines;
  void write_eof() override;
  bool can_write_eof() const noexcept override { return true; }
  void abort() override { force_close(nullptr); }
  /// Bytes not yet taken by the kernel, except (io_uring) those handed to a send in flight that
  /// has not come back short: see `uncounted_`.
  std::size_t get_write_buffer_size() const noexcept override {
    return buffer_.size() + out_.size() + lent_.size() - uncounted_;
  }
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept override {
    return {low_water_, high_water_};
  }
  void set_write_buffer_limits(std::optional<std::size_t> high,
                               std::optional<std::size_t> low) override;

  /// Python: _force_close(exc) — used by the TLS layer.
  void force_close(std::exception_ptr exc);
  int fd() const noexcept { return sock_.fd(); }

  // loop.sendfile() support (src/sendfile.cpp; Python: _make_empty_waiter,
  // _reset_empty_waiter and taking the transport out of the loop's _transports).
  /// A future done once the write buffer is empty; from then until reset_empty_waiter(),
  /// write()/writelines() throw RuntimeError("unable to write; sendfile is in progress").
  /// RuntimeError("Empty waiter is already set") if one is pending.
  Future<void> make_empty_waiter();
  void reset_empty_waiter() noexcept;
  /// While lent, the transport leaves the fd's registration to the sock_* operations.
  void lend_fd(bool lent) noexcept;
  /// Whether the protocol was told pause_writing() (Python: _protocol_paused).
  bool protocol_paused() const noexcept { return protocol_paused_; }

 private:
  void on_io(bool readable, bool writable) noexcept override;
  void on_loop_close() noexcept override;

  void read_ready() noexcept;
  void read_ready_buffered() noexcept;
  /// The BufferedProtocol's get_buffer(-1); empty after reporting a failure (fatal_error).
  std::span<std::byte> protocol_buffer() noexcept;
  void on_eof() noexcept;
  void write_ready() noexcept;
  void fatal_error(std::exception_ptr exc, const char* message) noexcept;
  void call_connection_lost(std::exception_ptr exc, bool from_io) noexcept;
  void maybe_pause_protocol();
  void maybe_resume_protocol();
  void update_interest() noexcept;
  void after_connection_made(Future<void> waiter);
  /// Hands received bytes to the protocol (data_received, or get_buffer/buffer_updated for a
  /// BufferedProtocol); what arrives after pause_reading() mid-way is kept in held_.
  void deliver(std::span<const std::byte> data) noexcept;
  /// Nothing buffered, nothing in flight: what close()/write_eof()/sendfile wait for.
  bool write_idle() const noexcept { return buffer_.empty() && out_.empty() && !send_armed_; }
  /// The write buffer drained (both paths): wake sendfile, finish close()/write_eof().
  void write_drained() noexcept;

  // ---- io_uring completion path (src/uring_transport.cpp; used when ring_ != nullptr) ----
  struct RecvOp final : Completion {
    SocketTransport* t;
    explicit RecvOp(SocketTransport* o) noexcept : t(o) {}
    void on_complete(int res, std::uint32_t flags) noexcept override;
  };
  struct SendOp final : Completion {
    SocketTransport* t;
    explicit SendOp(SocketTransport* o) noexcept : t(o) {}
    void on_complete(int res, std::uint32_t flags) noexcept override;
  };
  void uring_update_reading(bool want_read) noexcept;
  void uring_on_recv(int res, std::uint32_t flags) noexcept;
  void uring_on_data(std::span<const std::byte> data) noexcept;
  void uring_deliver_held() noexcept;
  void uring_write(std::span<const std::span<const std::byte>> chunks);
  void uring_start_send() noexcept;
  void uring_on_send(int res) noexcept;
  /// Abort/loop close: cancels what is in flight; the buffers stay until the final CQEs.
  void uring_cancel_all() noexcept;
  void release_lent() noexcept;
  void op_started();
  [[nodiscard]] std::shared_ptr<SocketTransport> op_finished() noexcept;

  EventLoop* loop_;
  Socket sock_;
  std::shared_ptr<Protocol> protocol_;
  BufferedProtocol* buffered_ = nullptr;
  std::vector<std::shared_ptr<Protocol>> retired_;  // replaced by set_protocol()
  std::shared_ptr<ServerImpl> server_;
  std::shared_ptr<SocketTransport> self_;  // the loop's reference while the connection lives
  std::optional<SockAddr> peername_;
  WriteBuffer buffer_;
  std::size_t high_water_ = 64 * 1024;
  std::size_t low_water_ = 16 * 1024;
  int conn_lost_ = 0;
  bool closing_ = false;
  bool paused_ = false;
  bool eof_ = false;
  bool protocol_paused_ = false;
  bool lost_called_ = false;
  bool read_eof_ = false;    // eof_received() asked to stay open: reading is over
  bool watch_read_ = false;  // current interest registered with the loop
  bool watch_write_ = false;
  bool started_reading_ = false;  // connection_made() ran: reading may be watched
  bool fd_lent_ = false;          // sendfile owns the fd's registration (lend_fd)
  std::optional<Future<void>> empty_waiter_;

  // io_uring state. Invariant (reactor.hpp's ownership rule): while ops_in_flight_ > 0, hold_
  // keeps this object, and so out_ and the Completion members, alive; out_ is not modified
  // while send_armed_ (writes go to buffer_ meanwhile).
  CompletionRing* ring_ = nullptr;  // null: readiness path (epoll, or no provided buffers)
  RecvOp recv_op_{this};
  SendOp send_op_{this};
  WriteBuffer out_;            // the bytes the send in flight refers to
  std::size_t uncounted_ = 0;  // bytes of lent_+out_+buffer_ not reported as buffered
  // Zero-copy write: the send in flight refers to provided buffer lent_id_ (bytes a
  // data_received() wrote back) instead of out_; it is recycled at the send's CQE.
  std::span<const std::byte> lent_;
  std::uint16_t lent_id_ = 0;
  std::span<const std::byte> delivering_;  // the provided buffer data_received() is given
  std::uint16_t delivering_id_ = 0;
  std::vector<std::byte> held_;  // received while paused: delivered by resume_reading()
  int held_eof_ = 1;             // 0: EOF held, < 0: -errno held, 1: nothing
  std::shared_ptr<SocketTransport> hold_;
  int ops_in_flight_ = 0;
  bool recv_armed_ = false;       // a recv is in flight (its final CQE has not come)
  bool recv_cancelling_ = false;  // and we asked for its cancellation
  bool send_armed_ = false;
  bool held_scheduled_ = false;  // uring_deliver_held() is queued
  bool ring_stopped_ = false;    // the ring cancelled an operation we did not: stop re-arming
  bool linger_ = false;  // closed with unreported bytes in flight: send them, then close the fd
};

/// Python: _SelectorDatagramTransport.
class DatagramSocketTransport final : public DatagramTransport,
                                      public IoHandler,
                                      public LoopCloseHook {
 public:
  DatagramSocketTransport(EventLoop& loop, Socket sock, std::shared_ptr<DatagramProtocol> protocol,
                          std::optional<SockAddr> address);
  ~DatagramSocketTransport() override;
  void start(Future<void> waiter);

  std::any get_extra_info(std::string_view name) const override;
  bool is_closing() const noexcept override { return closing_; }
  void close() override;
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override;
  std::shared_ptr<BaseProtocol> get_protocol() const override { return protocol_; }
  void sendto(std::span<const std::byte> data, const SockAddr& addr = {}) override;
  using DatagramTransport::sendto;
  void abort() override { force_close(nullptr); }
  std::size_t get_write_buffer_size() const noexcept override { return buffer_size_; }

 private:
  void on_io(bool readable, bool writable) noexcept override;
  void on_loop_close() noexcept override;
  void read_ready() noexcept;
  void write_ready() noexcept;
  void force_close(std::exception_ptr exc) noexcept;
  void fatal_error(std::exception_ptr exc, const char* message) noexcept;
  void call_connection_lost(std::exception_ptr exc) noexcept;
  void update_interest() noexcept;
  void maybe_pause_protocol();
  void maybe_resume_protocol();

  struct Pending {
    std::vector<std::byte> data;
    SockAddr addr;
  };

  EventLoop* loop_;
  Socket sock_;
  std::shared_ptr<DatagramProtocol> protocol_;
  std::shared_ptr<DatagramSocketTransport> self_;
  std::optional<SockAddr> address_;
  std::vector<Pending> buffer_;
  std::size_t buffer_head_ = 0;
  std::size_t buffer_size_ = 0;
  std::size_t high_water_ = 64 * 1024;
  std::size_t low_water_ = 16 * 1024;
  int conn_lost_ = 0;
  bool closing_ = false;
  bool protocol_paused_ = false;
  bool lost_called_ = false;
  bool watch_read_ = false;
  bool watch_write_ = false;
  bool started_ = false;
};

/// One listening socket of a server: accepts when readable (Python: _accept_connection).
/// Shared-owned by its server. on_io() holds a reference to itself and to the server while it
/// runs, because the protocol factory it calls may close the server, which drops the acceptor:
/// the object then outlives the server's reference until the accept loop has returned.
///
/// On the io_uring backend it keeps one multishot accept in flight instead (server.cpp); while
/// it is, hold_ keeps the acceptor alive (reactor.hpp's ownership rule), and server_ is only
/// used while watching_ (a closed acceptor may outlive its server until the final CQE).
class Acceptor final : public IoHandler, public std::enable_shared_from_this<Acceptor> {
 public:
  Acceptor(ServerImpl& server, Socket sock);
  void on_io(bool readable, bool writable) noexcept override;
  void start();
  /// Stops watching the socket (and cancels an accept retry); the socket stays open.
  void stop() noexcept;
  /// stop(), then closes the listening socket: new connections are refused from now on.
  void close() noexcept;
  int fd() const noexcept { return sock_.fd(); }
  Socket& socket() noexcept { return sock_; }

 private:
  struct AcceptOp final : Completion {
    Acceptor* a;
    explicit AcceptOp(Acceptor* o) noexcept : a(o) {}
    void on_complete(int res, std::uint32_t flags) noexcept override;
  };
  /// accept() failed with `err` (not EAGAIN/ECONNABORTED): report it; out of fds or memory,
  /// stop accepting for kAcceptRetryDelay (Python: ACCEPT_RETRY_DELAY).
  void accept_failed(int err) noexcept;
  void arm() noexcept;
  void on_accept(int res, std::uint32_t flags) noexcept;

  ServerImpl* server_;
  Socket sock_;
  bool watching_ = false;
  TimerHandle retry_;
  CompletionRing* ring_ = nullptr;
  AcceptOp op_{this};
  std::shared_ptr<Acceptor> hold_;  // while the accept is in flight
  bool armed_ = false;
  bool cancelling_ = false;
  bool ring_stopped_ = false;  // the ring cancelled the accept itself (loop closing)
};

/// Python: base_events.Server.
class ServerImpl final : public LoopCloseHook, public std::enable_shared_from_this<ServerImpl> {
 public:
  ServerImpl(EventLoop& loop, std::vector<Socket> sockets, ProtocolFactory factory,
             std::shared_ptr<SSLContext> ssl, int backlog,
             std::optional<Duration> ssl_handshake_timeout,
             std::optional<Duration> ssl_shutdown_timeout);
  ~ServerImpl();

  EventLoop& loop() const noexcept { return *loop_; }
  bool is_serving() const noexcept { return serving_; }
  bool closed() const noexcept { return closed_; }
  std::vector<TransportSocket> sockets() const;
  void start_serving();
  void close();
  /// A connection of this server starts (Python: Server._attach(transport)).
  void attach(SocketTransport* transport);
  /// A connection of this server is gone (Python: Server._detach(transport)).
  void detach(SocketTransport* transport) noexcept;
  /// Closes / aborts every connection (Python 3.13: close_clients() / abort_clients()).
  void close_clients(bool abort);
  Coro<void> serve_forever();
  Coro<void> wait_closed();

  /// Creates the transport for an accepted connection (Python: _accept_connection2).
  void accept_connection(Socket conn, const SockAddr& peer) noexcept;

 private:
  void on_loop_close() noexcept override;
  void wakeup();

  EventLoop* loop_;
  std::vector<std::shared_ptr<Acceptor>> acceptors_;
  ProtocolFactory factory_;
  std::shared_ptr<SSLContext> ssl_;
  int backlog_;
  std::optional<Duration> ssl_handshake_timeout_;
  std::optional<Duration> ssl_shutdown_timeout_;
  std::size_t active_count_ = 0;
  // The live connections (Python 3.13: Server._clients); each removes itself in detach().
  std::unordered_set<SocketTransport*> clients_;
  std::optional<std::vector<Future<void>>> waiters_{std::in_place};
  Future<void> serving_forever_fut_;
  std::shared_ptr<ServerImpl> self_;  // while serving: the loop keeps the server alive
  bool serving_ = false;
  bool closed_ = false;
  friend class Acceptor;
};

// ---- TLS (src/sslproto.cpp) -----------------------------------------------------------------

/// Python: sslproto.SSLProtocol. Returns the protocol to put on the raw transport; the
/// application's transport is available through ssl_app_transport() (created at once).
std::shared_ptr<BufferedProtocol> make_ssl_protocol(
    EventLoop& loop, std::shared_ptr<Protocol> app_protocol, std::shared_ptr<SSLContext> context,
    Future<void> waiter, bool server_side, std::optional<std::string> server_hostname,
    bool call_connection_made, std::optional<Duration> ssl_handshake_timeout,
    std::optional<Duration> ssl_shutdown_timeout);
std::shared_ptr<Transport> ssl_app_transport(BufferedProtocol& ssl_protocol);

}  // namespace asyncio::detail
