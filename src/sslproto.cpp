// TLS over any stream transport with OpenSSL memory BIOs (Python: asyncio/sslproto.py:
// SSLProtocol and _SSLProtocolTransport, same state machine and flow control).

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <climits>
#include <cstdio>
#include <cstring>

#include "asyncio/ssl.hpp"
#include "selector_events.hpp"

namespace asyncio::detail {
namespace {

enum class SslState { UNWRAPPED, DO_HANDSHAKE, WRAPPED, FLUSHING, SHUTDOWN };
enum class AppState { INIT, CON_MADE, EOF_RECEIVED, CON_LOST };

const char* state_name(SslState s) {
  switch (s) {
    case SslState::UNWRAPPED:
      return "UNWRAPPED";
    case SslState::DO_HANDSHAKE:
      return "DO_HANDSHAKE";
    case SslState::WRAPPED:
      return "WRAPPED";
    case SslState::FLUSHING:
      return "FLUSHING";
    case SslState::SHUTDOWN:
      return "SHUTDOWN";
  }
  return "?";
}

/// Scratch space for ciphertext on its way from the outgoing BIO to the transport.
std::span<std::byte> out_scratch() noexcept {
  constexpr std::size_t kSize = 64 * 1024;
  thread_local std::unique_ptr<std::byte[]> buffer(new std::byte[kSize]);
  return {buffer.get(), kSize};
}

bool again(int err) noexcept {
  // Python's SSLAgainErrors: SSLWantReadError, SSLSyscallError (with memory BIOs).
  return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_SYSCALL;
}

class SSLProtocol;

/// Python: _SSLProtocolTransport — what the application sees.
class SSLAppTransport final : public Transport {
 public:
  explicit SSLAppTransport(SSLProtocol* p) : proto_(p) {}

  std::any get_extra_info(std::string_view name) const override;
  bool is_closing() const noexcept override { return closed_; }
  void close() override;
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override;
  std::shared_ptr<BaseProtocol> get_protocol() const override;
  bool is_reading() const noexcept override;
  void pause_reading() override;
  void resume_reading() override;
  void write(std::span<const std::byte> data) override;
  using Transport::write;
  void writelines(std::span<const std::span<const std::byte>> chunks) override;
  using Transport::writelines;
  void write_eof() override {
    throw RuntimeError("write_eof() is not supported by TLS transports");
  }
  bool can_write_eof() const noexcept override { return false; }
  void abort() override;
  std::size_t get_write_buffer_size() const noexcept override;
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept override;
  void set_write_buffer_limits(std::optional<std::size_t> high,
                               std::optional<std::size_t> low) override;

  SSLProtocol* proto_;  // null once the TLS protocol is gone
  bool closed_ = false;
};

class SSLProtocol final : public BufferedProtocol,
                          public std::enable_shared_from_this<SSLProtocol> {
 public:
  SSLProtocol(EventLoop& loop, std::shared_ptr<Protocol> app_protocol,
              std::shared_ptr<SSLContext> context, Future<void> waiter, bool server_side,
              std::optional<std::string> server_hostname, bool call_connection_made,
              std::optional<Duration> handshake_timeout, std::optional<Duration> shutdown_timeout)
      : loop_(&loop), context_(std::move(context)), waiter_(std::move(waiter)) {
    handshake_timeout_ = handshake_timeout ? handshake_timeout->count() : kSslHandshakeTimeout;
    if (handshake_timeout_ <= 0) {
      throw ValueError("ssl_handshake_timeout should be a positive number, got " +
                       std::to_string(handshake_timeout_));
    }
    shutdown_timeout_ = shutdown_timeout ? shutdown_timeout->count() : kSslShutdownTimeout;
    if (shutdown_timeout_ <= 0) {
      throw ValueError("ssl_shutdown_timeout should be a positive number, got " +
                       std::to_string(shutdown_timeout_));
    }
    if (!context_) {
      if (server_side) throw ValueError("Server side SSL needs a valid SSLContext");
      context_ = SSLContext::create_default_context();
    }
    set_app_protocol(std::move(app_protocol));
    app_state_ = call_connection_made ? AppState::INIT : AppState::CON_MADE;
    ssl_ = context_->new_ssl(server_side, server_side ? std::nullopt : server_hostname);
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in_, -1);
    BIO_set_mem_eof_return(out_, -1);
    SSL_set_bio(ssl_, in_, out_);  // the SSL object owns both BIOs now
    std::tie(incoming_high_, incoming_low_) = flowcontrol_limits(std::nullopt, std::nullopt, 256);
    std::tie(outgoing_high_, outgoing_low_) = flowcontrol_limits(std::nullopt, std::nullopt, 512);
  }

  ~SSLProtocol() override {
    handshake_timer_.cancel();
    shutdown_timer_.cancel();
    if (auto t = app_weak_.lock()) t->proto_ = nullptr;
    SSL_free(ssl_);
  }

  void init_app_transport() {
    app_transport_ = std::make_shared<SSLAppTransport>(this);
    app_weak_ = app_transport_;
  }
  std::shared_ptr<Transport> app_transport() const { return app_weak_.lock(); }

  void set_app_protocol(std::shared_ptr<Protocol> p) {
    if (!p) throw ValueError("the TLS transport needs a protocol");
    app_protocol_ = std::move(p);
    app_buffered_ = app_protocol_->as_buffered();
  }

  // ---- The raw transport's side ---------------------------------------------------------

  void connection_made(Transport& transport) override {
    transport_ = &transport;
    raw_ = dynamic_cast<SocketTransport*>(&transport);
    start_handshake();
  }

  void connection_lost(std::exception_ptr exc) override {
    backlog_.clear();
    discard_outgoing();
    ++conn_lost_;
    std::shared_ptr<SSLAppTransport> app_transport = std::move(app_transport_);
    if (app_transport) app_transport->closed_ = true;
    if (state_ != SslState::DO_HANDSHAKE) {
      if (app_state_ == AppState::CON_MADE || app_state_ == AppState::EOF_RECEIVED) {
        app_state_ = AppState::CON_LOST;
        // The app transport stays valid until the app's connection_lost() returns.
        loop_->call_soon(
            [app = app_protocol_, t = app_transport, exc] { app->connection_lost(exc); });
      }
    }
    state_ = SslState::UNWRAPPED;
    transport_ = nullptr;
    raw_ = nullptr;
    app_protocol_.reset();
    app_buffered_ = nullptr;
    wakeup_waiter(exc);
    shutdown_timer_.cancel();
    handshake_timer_.cancel();
  }

  std::span<std::byte> get_buffer(std::ptrdiff_t) override { return shared_read_buffer(); }

  void buffer_updated(std::size_t nbytes) override {
    BIO_write(in_, shared_read_buffer().data(), static_cast<int>(nbytes));
    switch (state_) {
      case SslState::DO_HANDSHAKE:
        do_handshake();
        break;
      case SslState::WRAPPED:
        do_read();
        break;
      case SslState::FLUSHING:
        do_flush();
        break;
      case SslState::SHUTDOWN:
        do_shutdown();
        break;
      case SslState::UNWRAPPED:
        break;
    }
  }

  bool eof_received() override {
    eof_received_ = true;
    try {
      switch (state_) {
        case SslState::DO_HANDSHAKE:
          on_handshake_complete(std::make_exception_ptr(ConnectionResetError(
              std::string("the peer closed the connection during the TLS handshake"))));
          break;
        case SslState::WRAPPED:
          set_state(SslState::FLUSHING);
          if (app_reading_paused_) return true;
          do_flush();
          break;
        case SslState::FLUSHING:
          do_write();
          set_state(SslState::SHUTDOWN);
          do_shutdown();
          break;
        case SslState::SHUTDOWN:
          do_shutdown();
          break;
        case SslState::UNWRAPPED:
          break;
      }
    } catch (...) {
      if (transport_) transport_->close();
      throw;
    }
    return false;
  }

  void pause_writing() override { ssl_writing_paused_ = true; }
  void resume_writing() override {
    ssl_writing_paused_ = false;
    process_outgoing();
  }

  // ---- The application transport's side --------------------------------------------------

  std::any get_extra_info(std::string_view name) const {
    if (name == "sslcontext") return context_;
    if (name == "ssl_object") return ssl_;
    if (handshake_done_) {
      if (name == "peercert") return peer_certificate(ssl_);
      if (name == "cipher") return std::string(SSL_get_cipher_name(ssl_));
      if (name == "version") return std::string(SSL_get_version(ssl_));
      if (name == "alpn_protocol") {
        const unsigned char* p = nullptr;
        unsigned len = 0;
        SSL_get0_alpn_selected(ssl_, &p, &len);
        if (len == 0) return {};
        return std::string(reinterpret_cast<const char*>(p), len);
      }
    }
    if (transport_) return transport_->get_extra_info(name);
    return {};
  }

  void write_appdata(std::span<const std::span<const std::byte>> chunks) {
    if (state_ == SslState::FLUSHING || state_ == SslState::SHUTDOWN ||
        state_ == SslState::UNWRAPPED) {
      if (conn_lost_ >= kLogThresholdForConnlostWrites && loop_->get_debug()) {
        std::fprintf(stderr, "asyncio: SSL connection is closed\n");
      }
      ++conn_lost_;
      return;
    }
    try {
      for (auto chunk : chunks) {
        if (chunk.empty()) continue;
        if (state_ == SslState::WRAPPED && backlog_.empty()) {
          // Encrypt straight from the caller's buffer; keep what OpenSSL did not take.
          chunk = chunk.subspan(ssl_write(chunk));
        }
        if (!chunk.empty()) backlog_.append(chunk);
      }
      if (state_ == SslState::WRAPPED) do_write();
    } catch (...) {
      fatal_error(std::current_exception(), "Fatal error on SSL protocol");
    }
  }

  void start_shutdown() {
    if (state_ == SslState::FLUSHING || state_ == SslState::SHUTDOWN ||
        state_ == SslState::UNWRAPPED)
      return;
    if (app_transport_) app_transport_->closed_ = true;
    if (state_ == SslState::DO_HANDSHAKE) {
      abort_connection();
    } else {
      set_state(SslState::FLUSHING);
      std::weak_ptr<SSLProtocol> weak = weak_from_this();
      shutdown_timer_ = loop_->call_later(Duration(shutdown_timeout_), [weak] {
        if (auto self = weak.lock()) self->check_shutdown_timeout();
      });
      do_flush();
    }
  }

  void abort_connection() {
    state_ = SslState::UNWRAPPED;
    if (transport_) transport_->abort();
  }

  void pause_reading() { app_reading_paused_ = true; }
  void resume_reading() {
    if (!app_reading_paused_) return;
    app_reading_paused_ = false;
    std::weak_ptr<SSLProtocol> weak = weak_from_this();
    loop_->call_soon([weak] {
      auto self = weak.lock();
      if (!self) return;
      if (self->state_ == SslState::WRAPPED) {
        self->do_read();
      } else if (self->state_ == SslState::FLUSHING) {
        self->do_flush();
      } else if (self->state_ == SslState::SHUTDOWN) {
        self->do_shutdown();
      }
    });
  }

  void set_write_buffer_limits(std::optional<std::size_t> high, std::optional<std::size_t> low) {
    std::tie(outgoing_high_, outgoing_low_) = flowcontrol_limits(high, low, 512);
    control_app_writing();
  }

  std::size_t write_buffer_size() const noexcept {
    return static_cast<std::size_t>(BIO_ctrl_pending(out_)) + backlog_.size();
  }

  std::shared_ptr<Protocol> app_protocol_;
  BufferedProtocol* app_buffered_ = nullptr;
  bool app_reading_paused_ = false;
  std::size_t outgoing_high_ = 0;
  std::size_t outgoing_low_ = 0;

 private:
  void set_state(SslState next) {
    bool allowed = next == SslState::UNWRAPPED ||
                   (state_ == SslState::UNWRAPPED && next == SslState::DO_HANDSHAKE) ||
                   (state_ == SslState::DO_HANDSHAKE && next == SslState::WRAPPED) ||
                   (state_ == SslState::WRAPPED && next == SslState::FLUSHING) ||
                   (state_ == SslState::FLUSHING && next == SslState::SHUTDOWN);
    if (!allowed) {
      throw RuntimeError(std::string("cannot switch state from ") + state_name(state_) + " to " +
                         state_name(next));
    }
    state_ = next;
  }

  void wakeup_waiter(std::exception_ptr exc = nullptr) {
    if (!waiter_) return;
    if (!waiter_.done()) {
      if (exc) {
        waiter_.set_exception(exc);
      } else {
        waiter_.set_result();
      }
    }
    waiter_ = {};
  }

  // ---- Handshake ------------------------------------------------------------------------

  void start_handshake() {
    set_state(SslState::DO_HANDSHAKE);
    std::weak_ptr<SSLProtocol> weak = weak_from_this();
    handshake_timer_ = loop_->call_later(Duration(handshake_timeout_), [weak] {
      if (auto self = weak.lock()) self->check_handshake_timeout();
    });
    do_handshake();
  }

  void check_handshake_timeout() {
    if (state_ != SslState::DO_HANDSHAKE) return;
    char msg[160];
    std::snprintf(msg, sizeof msg,
                  "SSL handshake is taking longer than %g seconds: aborting the connection",
                  handshake_timeout_);
    fatal_error(std::make_exception_ptr(ConnectionAbortedError(msg)), "SSL handshake timeout");
  }

  void do_handshake() {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_);
    if (rc == 1) {
      on_handshake_complete(nullptr);
      return;
    }
    int err = SSL_get_error(ssl_, rc);
    if (again(err)) {
      process_outgoing();
      return;
    }
    std::exception_ptr exc = make_ssl_error(ssl_, err, "SSL handshake failed");
    process_outgoing();  // best effort: let the peer see our alert
    on_handshake_complete(exc);
  }

  void on_handshake_complete(std::exception_ptr exc) {
    handshake_timer_.cancel();
    if (!exc) {
      set_state(SslState::WRAPPED);
    } else {
      state_ = SslState::UNWRAPPED;
      bool cert = false;
      try {
        std::rethrow_exception(exc);
      } catch (const SSLCertVerificationError&) {
        cert = true;
      } catch (...) {
      }
      fatal_error(
          exc, cert ? "SSL handshake failed on verifying the certificate" : "SSL handshake failed");
      wakeup_waiter(exc);
      return;
    }
    handshake_done_ = true;
    if (app_state_ == AppState::INIT) {
      app_state_ = AppState::CON_MADE;
      app_protocol_->connection_made(*app_transport_);
    }
    wakeup_waiter();
    do_read();
  }

  // ---- Shutdown -------------------------------------------------------------------------

  void check_shutdown_timeout() {
    if (state_ != SslState::FLUSHING && state_ != SslState::SHUTDOWN) return;
    std::exception_ptr exc = std::make_exception_ptr(TimeoutError("SSL shutdown timed out"));
    if (raw_) {
      raw_->force_close(exc);
    } else if (transport_) {
      transport_->abort();
    }
  }

  void do_flush() {
    do_read();
    set_state(SslState::SHUTDOWN);
    do_shutdown();
  }

  void do_shutdown() {
    if (!eof_received_) {
      ERR_clear_error();
      int rc = SSL_shutdown(ssl_);
      if (rc == 0) rc = SSL_shutdown(ssl_);  // close_notify sent; now wait for the peer's
      if (rc != 1) {
        int err = SSL_get_error(ssl_, rc);
        if (rc == 0 || again(err)) {
          process_outgoing();
          return;
        }
        on_shutdown_complete(make_ssl_error(ssl_, err, "SSL shutdown failed"));
        return;
      }
    }
    process_outgoing();
    call_eof_received();
    on_shutdown_complete(nullptr);
  }

  void on_shutdown_complete(std::exception_ptr exc) {
    shutdown_timer_.cancel();
    if (exc) {
      fatal_error(exc, "Fatal error on SSL protocol");
    } else if (transport_) {
      std::weak_ptr<BaseTransport> t = transport_->weak_from_this();
      loop_->call_soon([t] {
        if (auto tr = t.lock()) tr->close();
      });
    }
  }

  // ---- Outgoing -------------------------------------------------------------------------

  /// SSL_write of one chunk; returns how much OpenSSL took (0 when it needs to read first).
  std::size_t ssl_write(std::span<const std::byte> data) {
    ERR_clear_error();
    int n =
        SSL_write(ssl_, data.data(), static_cast<int>(std::min<std::size_t>(data.size(), INT_MAX)));
    if (n > 0) return static_cast<std::size_t>(n);
    int err = SSL_get_error(ssl_, n);
    if (again(err)) return 0;
    std::rethrow_exception(make_ssl_error(ssl_, err, "SSL write failed"));
  }

  void do_write() {
    while (!backlog_.empty()) {
      std::size_t n = ssl_write({backlog_.data(), backlog_.size()});
      if (n == 0) break;
      backlog_.consume(n);
    }
    process_outgoing();
  }

  void process_outgoing() {
    if (!ssl_writing_paused_ && transport_) {
      std::span<std::byte> scratch = out_scratch();
      while (BIO_ctrl_pending(out_) > 0 && transport_) {
        int n = BIO_read(out_, scratch.data(), static_cast<int>(scratch.size()));
        if (n <= 0) break;
        transport_->write(scratch.first(static_cast<std::size_t>(n)));
      }
    }
    control_app_writing();
  }

  void discard_outgoing() {
    std::span<std::byte> scratch = out_scratch();
    while (BIO_ctrl_pending(out_) > 0) {
      if (BIO_read(out_, scratch.data(), static_cast<int>(scratch.size())) <= 0) break;
    }
  }

  // ---- Incoming -------------------------------------------------------------------------

  void do_read() {
    if (state_ != SslState::WRAPPED && state_ != SslState::FLUSHING) return;
    try {
      if (!app_reading_paused_) {
        if (app_buffered_) {
          do_read_buffered();
        } else {
          do_read_copied();
        }
        if (!backlog_.empty()) {
          do_write();
        } else {
          process_outgoing();
        }
      }
      control_ssl_reading();
    } catch (...) {
      fatal_error(std::current_exception(), "Fatal error on SSL protocol");
    }
  }

  /// Reads plaintext; returns the byte count, 0 for "nothing now", -1 at close_notify.
  long ssl_read(std::byte* buf, std::size_t len) {
    ERR_clear_error();
    int n = SSL_read(ssl_, buf, static_cast<int>(std::min<std::size_t>(len, INT_MAX)));
    if (n > 0) return n;
    int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_ZERO_RETURN) return -1;
    if (again(err)) return 0;
    std::rethrow_exception(make_ssl_error(ssl_, err, "SSL read failed"));
  }

  void do_read_copied() {
    std::span<std::byte> buf = shared_read_buffer();
    std::size_t filled = 0;
    bool eof = false;
    while (true) {
      if (filled == buf.size()) {
        app_protocol_->data_received(buf.first(filled));
        filled = 0;
        if (app_reading_paused_ || !app_protocol_ ||
            (state_ != SslState::WRAPPED && state_ != SslState::FLUSHING)) {
          return;
        }
      }
      long n = ssl_read(buf.data() + filled, buf.size() - filled);
      if (n > 0) {
        filled += static_cast<std::size_t>(n);
        continue;
      }
      eof = n < 0;
      break;
    }
    if (filled > 0) app_protocol_->data_received(buf.first(filled));
    if (eof && app_protocol_) {
      call_eof_received();
      start_shutdown();
    }
  }

  void do_read_buffered() {
    std::span<std::byte> buf =
        app_buffered_->get_buffer(static_cast<std::ptrdiff_t>(BIO_ctrl_pending(in_)));
    if (buf.empty()) throw RuntimeError("get_buffer() returned an empty buffer");
    std::size_t offset = 0;
    bool eof = false;
    while (offset < buf.size()) {
      long n = ssl_read(buf.data() + offset, buf.size() - offset);
      if (n > 0) {
        offset += static_cast<std::size_t>(n);
        continue;
      }
      eof = n < 0;
      break;
    }
    if (offset == buf.size()) {
      std::weak_ptr<SSLProtocol> weak = weak_from_this();
      loop_->call_soon([weak] {
        if (auto self = weak.lock()) self->do_read();
      });
    }
    if (offset > 0) app_buffered_->buffer_updated(offset);
    if (eof) {
      call_eof_received();
      start_shutdown();
    }
  }

  void call_eof_received() {
    if (app_state_ != AppState::CON_MADE) return;
    app_state_ = AppState::EOF_RECEIVED;
    try {
      bool keep_open = app_protocol_->eof_received();
      if (keep_open && loop_->get_debug()) {
        std::fprintf(stderr,
                     "asyncio: returning true from eof_received() has no effect when using ssl\n");
      }
    } catch (...) {
      fatal_error(std::current_exception(), "Error calling eof_received()");
    }
  }

  // ---- Flow control ---------------------------------------------------------------------

 public:
  void control_app_writing() {
    std::size_t size = write_buffer_size();
    if (size >= outgoing_high_ && !app_writing_paused_) {
      app_writing_paused_ = true;
      try {
        if (app_protocol_) app_protocol_->pause_writing();
      } catch (...) {
        loop_->call_exception_handler(
            {"protocol.pause_writing() failed", std::current_exception(), {}});
      }
    } else if (size <= outgoing_low_ && app_writing_paused_) {
      app_writing_paused_ = false;
      try {
        if (app_protocol_) app_protocol_->resume_writing();
      } catch (...) {
        loop_->call_exception_handler(
            {"protocol.resume_writing() failed", std::current_exception(), {}});
      }
    }
  }

 private:
  void control_ssl_reading() {
    if (!transport_) return;
    auto size = static_cast<std::size_t>(BIO_ctrl_pending(in_));
    if (size >= incoming_high_ && !ssl_reading_paused_) {
      ssl_reading_paused_ = true;
      transport_->pause_reading();
    } else if (size <= incoming_low_ && ssl_reading_paused_) {
      ssl_reading_paused_ = false;
      transport_->resume_reading();
    }
  }

  void fatal_error(std::exception_ptr exc, const char* message) {
    if (raw_) {
      raw_->force_close(exc);
    } else if (transport_) {
      transport_->abort();
    }
    report_fatal_error(*loop_, exc, message);
  }

  EventLoop* loop_;
  std::shared_ptr<SSLContext> context_;
  Future<void> waiter_;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
  SslState state_ = SslState::UNWRAPPED;
  AppState app_state_ = AppState::INIT;
  std::shared_ptr<SSLAppTransport> app_transport_;  // until connection_lost
  std::weak_ptr<SSLAppTransport> app_weak_;
  Transport* transport_ = nullptr;  // the raw transport, between connection_made and _lost
  SocketTransport* raw_ = nullptr;
  WriteBuffer backlog_;
  double handshake_timeout_;
  double shutdown_timeout_;
  TimerHandle handshake_timer_;
  TimerHandle shutdown_timer_;
  int conn_lost_ = 0;
  bool eof_received_ = false;
  bool handshake_done_ = false;
  bool ssl_writing_paused_ = false;
  bool ssl_reading_paused_ = false;
  bool app_writing_paused_ = false;
  std::size_t incoming_high_ = 0;
  std::size_t incoming_low_ = 0;
};

// ---- SSLAppTransport -------------------------------------------------------------------------

std::any SSLAppTransport::get_extra_info(std::string_view name) const {
  return proto_ ? proto_->get_extra_info(name) : std::any{};
}

void SSLAppTransport::close() {
  if (closed_) return;
  closed_ = true;
  if (proto_) proto_->start_shutdown();
}

void SSLAppTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  auto p = std::dynamic_pointer_cast<Protocol>(protocol);
  if (!p) throw ValueError("a stream transport needs an asyncio::Protocol");
  if (proto_) proto_->set_app_protocol(std::move(p));
}

std::shared_ptr<BaseProtocol> SSLAppTransport::get_protocol() const {
  return proto_ ? proto_->app_protocol_ : nullptr;
}

bool SSLAppTransport::is_reading() const noexcept {
  return proto_ && !proto_->app_reading_paused_;
}
void SSLAppTransport::pause_reading() {
  if (proto_) proto_->pause_reading();
}
void SSLAppTransport::resume_reading() {
  if (proto_) proto_->resume_reading();
}

void SSLAppTransport::write(std::span<const std::byte> data) {
  if (data.empty() || !proto_) return;
  proto_->write_appdata(std::span<const std::span<const std::byte>>(&data, 1));
}

void SSLAppTransport::writelines(std::span<const std::span<const std::byte>> chunks) {
  if (proto_) proto_->write_appdata(chunks);
}

void SSLAppTransport::abort() {
  closed_ = true;
  if (proto_) proto_->abort_connection();
}

std::size_t SSLAppTransport::get_write_buffer_size() const noexcept {
  return proto_ ? proto_->write_buffer_size() : 0;
}

std::pair<std::size_t, std::size_t> SSLAppTransport::get_write_buffer_limits() const noexcept {
  if (!proto_) return {0, 0};
  return {proto_->outgoing_low_, proto_->outgoing_high_};
}

void SSLAppTransport::set_write_buffer_limits(std::optional<std::size_t> high,
                                              std::optional<std::size_t> low) {
  if (proto_) proto_->set_write_buffer_limits(high, low);
}

}  // namespace

std::shared_ptr<BufferedProtocol> make_ssl_protocol(
    EventLoop& loop, std::shared_ptr<Protocol> app_protocol, std::shared_ptr<SSLContext> context,
    Future<void> waiter, bool server_side, std::optional<std::string> server_hostname,
    bool call_connection_made, std::optional<Duration> ssl_handshake_timeout,
    std::optional<Duration> ssl_shutdown_timeout) {
  auto p = std::make_shared<SSLProtocol>(loop, std::move(app_protocol), std::move(context),
                                         std::move(waiter), server_side, std::move(server_hostname),
                                         call_connection_made, ssl_handshake_timeout,
                                         ssl_shutdown_timeout);
  p->init_app_transport();
  return p;
}

std::shared_ptr<Transport> ssl_app_transport(BufferedProtocol& ssl_protocol) {
  return static_cast<SSLProtocol&>(ssl_protocol).app_transport();
}

}  // namespace asyncio::detail
