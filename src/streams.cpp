// StreamWriter, StreamReaderProtocol, open_connection, start_server (Python:
// asyncio/streams.py). The reader itself is in stream_reader.cpp.

#include "asyncio/streams.hpp"

#include "asyncio/detail/task_base.hpp"
#include "asyncio/ssl.hpp"
#include "asyncio/tasks.hpp"
#include "stream_reader_impl.hpp"

namespace asyncio {
namespace detail {

// ---- StreamReaderProtocol --------------------------------------------------------------------

/// Python's StreamReaderProtocol is a plain Protocol; this one is a BufferedProtocol, so the
/// socket transport receives straight into the reader's buffer (one copy less than going
/// through the transport's shared read buffer and data_received()). Transports that only know
/// data_received() still work: BufferedProtocol::data_received() copies into get_buffer().
class StreamReaderProtocol final : public BufferedProtocol,
                                   public std::enable_shared_from_this<StreamReaderProtocol> {
 public:
  StreamReaderProtocol(std::shared_ptr<StreamReaderImpl> reader,
                       std::shared_ptr<ClientConnectedCallback> cb)
      : reader_(std::move(reader)), client_connected_cb_(std::move(cb)) {}

  void connection_made(Transport& transport) override;
  void connection_lost(std::exception_ptr exc) override {
    if (reader_) {
      if (!exc) {
        reader_->feed_eof();
      } else {
        reader_->set_exception(exc);
      }
    }
    if (!closed_) {
      closed_ = true;
      closed_exc_ = exc;
      close_waiters_.for_each([](CloseWaiter* w) { w->wake(); });
    }
    // FlowControlMixin.connection_lost
    connection_lost_ = true;
    if (paused_) {
      drain_waiters_.for_each([&](DrainAwaiter* w) { w->wake(exc); });
    }
    reader_.reset();
    transport_ = nullptr;
  }
  std::span<std::byte> get_buffer(std::ptrdiff_t sizehint) override {
    // After connection_lost() nothing is kept (as Python's data_received without a reader).
    if (!reader_) return discard_;
    return reader_->get_buffer(sizehint);
  }
  void buffer_updated(std::size_t nbytes) override {
    if (reader_) reader_->buffer_updated(nbytes);
  }
  bool eof_received() override {
    if (reader_) reader_->feed_eof();
    // TLS transports always close on EOF ("returning true from eof_received() has no effect
    // when using ssl"), so say false there.
    return !over_ssl_;
  }
  void pause_writing() override { paused_ = true; }
  void resume_writing() override {
    paused_ = false;
    drain_waiters_.for_each([](DrainAwaiter* w) { w->wake(nullptr); });
  }

  void replace_transport(Transport& transport) {
    transport_ = &transport;
    over_ssl_ = transport.get_extra_info("sslcontext").has_value();
  }

  std::shared_ptr<StreamReaderImpl> reader_;
  std::shared_ptr<ClientConnectedCallback> client_connected_cb_;
  std::byte discard_[512];  // get_buffer() once the reader is gone
  Transport* transport_ = nullptr;
  bool over_ssl_ = false;
  // FlowControlMixin
  bool paused_ = false;
  bool connection_lost_ = false;
  IntrusiveList<DrainAwaiter> drain_waiters_;
  // The close waiter (Python: the _closed future)
  bool closed_ = false;
  std::exception_ptr closed_exc_;
  IntrusiveList<CloseWaiter> close_waiters_;
};

// ---- StreamWriterImpl ------------------------------------------------------------------------

class StreamWriterImpl {
 public:
  StreamWriterImpl(std::shared_ptr<Transport> transport,
                   std::shared_ptr<StreamReaderProtocol> protocol,
                   std::shared_ptr<StreamReaderImpl> reader)
      : transport_(std::move(transport)),
        protocol_(std::move(protocol)),
        reader_(std::move(reader)) {}
  ~StreamWriterImpl() {
    // The last handle is gone: close the connection rather than leak it (Python:
    // StreamWriter.__del__).
    if (transport_ && !transport_->is_closing()) {
      try {
        transport_->close();
      } catch (...) {
      }
    }
  }

  std::shared_ptr<Transport> transport_;
  std::shared_ptr<StreamReaderProtocol> protocol_;
  std::shared_ptr<StreamReaderImpl> reader_;
};

namespace {

/// Runs the client's coroutine; keeps the callback (and so its captures) alive while it runs.
Coro<void> run_client_connected_cb(std::shared_ptr<ClientConnectedCallback> cb, StreamReader reader,
                                   StreamWriter writer) {
  try {
    co_await (*cb)(reader, writer);
  } catch (const std::exception&) {
    get_running_loop().call_exception_handler(
        {"Unhandled exception in client_connected_cb", std::current_exception(), {}});
    writer.transport()->close();
  }
}

}  // namespace

void StreamReaderProtocol::connection_made(Transport& transport) {
  transport_ = &transport;
  auto shared_transport = std::static_pointer_cast<Transport>(transport.shared_from_this());
  if (reader_) reader_->transport_ = shared_transport;
  over_ssl_ = transport.get_extra_info("sslcontext").has_value();
  if (client_connected_cb_) {
    auto writer = std::make_shared<StreamWriterImpl>(shared_transport, shared_from_this(), reader_);
    get_running_loop().create_task(run_client_connected_cb(
        client_connected_cb_, StreamReader(reader_), StreamWriter(std::move(writer))));
  }
}

// ---- DrainAwaiter ----------------------------------------------------------------------------

bool DrainAwaiter::helper_ready() {
  StreamReaderProtocol& p = *writer_->protocol_;
  if (p.connection_lost_) {
    error_ = std::make_exception_ptr(ConnectionResetError(std::string("Connection lost")));
    return true;
  }
  return !p.paused_;
}

bool DrainAwaiter::await_ready() {
  if (writer_->reader_ && writer_->reader_->exception_) {
    error_ = writer_->reader_->exception_;
    return true;
  }
  if (writer_->transport_->is_closing()) return false;  // yield once so connection_lost() can run
  return helper_ready();
}

void DrainAwaiter::await_suspend(std::coroutine_handle<> h) {
  TaskBase& task = current_task_for("drain a stream");
  task_ = &task;
  if (writer_->transport_->is_closing() && state_ == State::Idle) {
    state_ = State::Yielding;
    LoopAccess::schedule(task.loop(), {&DrainAwaiter::on_yield, this});
  } else {
    state_ = State::Waiting;
    writer_->protocol_->drain_waiters_.push_back(this);
  }
  task.suspend(h, this);
}

void DrainAwaiter::on_yield(void* self, bool discard) {
  if (discard) return;
  auto* d = static_cast<DrainAwaiter*>(self);
  if (d->state_ == State::Yielding && !d->helper_ready()) {
    d->state_ = State::Waiting;  // still paused: wait for resume_writing()/connection_lost()
    d->writer_->protocol_->drain_waiters_.push_back(d);
    return;
  }
  if (d->state_ == State::Yielding) d->state_ = State::Woken;
  d->task_->step();
}

void DrainAwaiter::wake(std::exception_ptr exc) noexcept {
  if (state_ != State::Waiting) return;
  unlink();
  error_ = std::move(exc);
  state_ = State::Woken;
  task_->wake();
}

bool DrainAwaiter::cancel_awaited(const std::string& message) {
  if (state_ == State::Waiting) {
    unlink();
    state_ = State::Cancelled;
    cancel_message_ = message;
    task_->wake();
    return true;
  }
  if (state_ == State::Yielding) {
    // The yield's wake-up is queued: it will resume the task, which then sees this.
    state_ = State::Cancelled;
    cancel_message_ = message;
    return true;
  }
  return false;
}

void DrainAwaiter::await_resume() {
  if (state_ == State::Cancelled) {
    task_->consume_must_cancel();  // the first cancellation's message wins (CPython)
    throw CancelledError(std::move(cancel_message_));
  }
  if (task_) task_->throw_if_must_cancel();
  if (error_) std::rethrow_exception(error_);
}

// ---- CloseWaiter -----------------------------------------------------------------------------

bool CloseWaiter::await_ready() const noexcept {
  return protocol_->closed_;
}

void CloseWaiter::await_suspend(std::coroutine_handle<> h) {
  TaskBase& task = current_task_for("wait for a stream to close");
  task_ = &task;
  protocol_->close_waiters_.push_back(this);
  task.suspend(h, this);
}

void CloseWaiter::wake() noexcept {
  if (!linked()) return;
  unlink();
  task_->wake();
}

bool CloseWaiter::cancel_awaited(const std::string& message) {
  if (!linked()) return false;
  unlink();
  cancelled_ = true;
  cancel_message_ = message;
  task_->wake();
  return true;
}

void CloseWaiter::await_resume() {
  if (cancelled_) {
    task_->consume_must_cancel();  // the first cancellation's message wins (CPython)
    throw CancelledError(std::move(cancel_message_));
  }
  if (task_) task_->throw_if_must_cancel();
  if (protocol_->closed_exc_) std::rethrow_exception(protocol_->closed_exc_);
}

}  // namespace detail

// ---- StreamWriter helpers -------------------------------------------------------------------

namespace detail {
namespace {
Coro<void> stream_drain(std::shared_ptr<StreamWriterImpl> impl) {
  co_await DrainAwaiter(std::move(impl));
}
Coro<void> stream_wait_closed(std::shared_ptr<StreamReaderProtocol> protocol) {
  co_await CloseWaiter(std::move(protocol));
}
}  // namespace
}  // namespace detail

// ---- StreamWriter ----------------------------------------------------------------------------

void StreamWriter::write(std::span<const std::byte> data) {
  impl_->transport_->write(data);
}
void StreamWriter::write(std::string_view data) {
  impl_->transport_->write(data);
}
void StreamWriter::writelines(std::initializer_list<std::string_view> chunks) {
  impl_->transport_->writelines(chunks);
}
void StreamWriter::write_eof() {
  impl_->transport_->write_eof();
}
bool StreamWriter::can_write_eof() const {
  return impl_->transport_->can_write_eof();
}
void StreamWriter::close() {
  impl_->transport_->close();
}
bool StreamWriter::is_closing() const {
  return impl_->transport_->is_closing();
}
Coro<void> StreamWriter::wait_closed() {
  return detail::stream_wait_closed(impl_->protocol_);
}
Coro<void> StreamWriter::drain() {
  return detail::stream_drain(impl_);
}
std::any StreamWriter::get_extra_info(std::string_view name) const {
  return impl_->transport_->get_extra_info(name);
}
const std::shared_ptr<Transport>& StreamWriter::transport() const {
  return impl_->transport_;
}

Coro<void> StreamWriter::start_tls(std::shared_ptr<SSLContext> sslcontext,
                                   std::optional<std::string> server_hostname,
                                   std::optional<Duration> ssl_handshake_timeout,
                                   std::optional<Duration> ssl_shutdown_timeout) {
  std::shared_ptr<detail::StreamWriterImpl> impl = impl_;
  bool server_side = impl->protocol_->client_connected_cb_ != nullptr;
  co_await drain();
  std::shared_ptr<Transport> new_transport = co_await asyncio::start_tls(
      impl->transport_, impl->protocol_, std::move(sslcontext), server_side,
      std::move(server_hostname), ssl_handshake_timeout, ssl_shutdown_timeout);
  impl->transport_ = std::move(new_transport);
  impl->protocol_->replace_transport(*impl->transport_);
}

// ---- Entry points ----------------------------------------------------------------------------

namespace {
std::pair<StreamReader, StreamWriter> make_streams(
    std::shared_ptr<Transport> transport, std::shared_ptr<Protocol> protocol,
    std::shared_ptr<detail::StreamReaderImpl> reader) {
  auto p = std::static_pointer_cast<detail::StreamReaderProtocol>(protocol);
  auto writer =
      std::make_shared<detail::StreamWriterImpl>(std::move(transport), std::move(p), reader);
  return {StreamReader(std::move(reader)), StreamWriter(std::move(writer))};
}
}  // namespace

namespace detail {

Coro<std::pair<StreamReader, StreamWriter>> open_connection(std::string host, std::uint16_t port,
                                                            OwnedConnectionOptions opts,
                                                            std::size_t limit) {
  auto reader = std::make_shared<StreamReaderImpl>(limit);
  auto protocol = std::make_shared<StreamReaderProtocol>(reader, nullptr);
  // (Named, not a temporary inside the co_await: see the GCC 12 note in net.hpp.)
  ProtocolFactory factory = [protocol] { return protocol; };
  ConnectionPair tp =
      co_await create_connection(std::move(factory), std::move(host), port, std::move(opts));
  co_return make_streams(std::move(tp.first), std::move(tp.second), std::move(reader));
}

Coro<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string path, TlsParams opts,
                                                                 std::size_t limit) {
  auto reader = std::make_shared<StreamReaderImpl>(limit);
  auto protocol = std::make_shared<StreamReaderProtocol>(reader, nullptr);
  ProtocolFactory factory = [protocol] { return protocol; };
  ConnectionPair tp =
      co_await create_unix_connection(std::move(factory), std::move(path), std::move(opts));
  co_return make_streams(std::move(tp.first), std::move(tp.second), std::move(reader));
}

}  // namespace detail

Coro<std::pair<StreamReader, StreamWriter>> open_connection(std::string host, std::uint16_t port,
                                                            ConnectionOptions opts,
                                                            std::size_t limit) {
  if (limit == 0) throw ValueError("Limit cannot be <= 0");
  return detail::open_connection(std::move(host), port, detail::own(opts), limit);
}

Coro<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string path,
                                                                 UnixConnectionOptions opts,
                                                                 std::size_t limit) {
  if (limit == 0) throw ValueError("Limit cannot be <= 0");
  return detail::open_unix_connection(std::move(path), detail::own(opts), limit);
}

namespace detail {
ProtocolFactory stream_factory(ClientConnectedCallback cb, std::size_t limit) {
  if (!cb) throw ValueError("client_connected_cb is required");
  if (limit == 0) throw ValueError("Limit cannot be <= 0");
  auto shared_cb = std::make_shared<ClientConnectedCallback>(std::move(cb));
  return [shared_cb, limit]() -> std::shared_ptr<Protocol> {
    return std::make_shared<detail::StreamReaderProtocol>(
        std::make_shared<detail::StreamReaderImpl>(limit), shared_cb);
  };
}
}  // namespace detail

Coro<Server> start_server(ClientConnectedCallback client_connected_cb, std::string host,
                          std::uint16_t port, ServerOptions opts, std::size_t limit) {
  return create_server(detail::stream_factory(std::move(client_connected_cb), limit),
                       std::move(host), port, std::move(opts));
}

Coro<Server> start_unix_server(ClientConnectedCallback client_connected_cb, std::string path,
                               UnixServerOptions opts, std::size_t limit) {
  return create_unix_server(detail::stream_factory(std::move(client_connected_cb), limit),
                            std::move(path), std::move(opts));
}

std::shared_ptr<Protocol> make_stream_reader_protocol(StreamReader reader) {
  return std::make_shared<detail::StreamReaderProtocol>(reader.impl(), nullptr);
}

StreamWriter make_stream_writer(std::shared_ptr<Transport> transport,
                                std::shared_ptr<Protocol> protocol,
                                std::optional<StreamReader> reader) {
  auto p = std::dynamic_pointer_cast<detail::StreamReaderProtocol>(protocol);
  if (!p) throw ValueError("the protocol must come from make_stream_reader_protocol()");
  return StreamWriter(std::make_shared<detail::StreamWriterImpl>(
      std::move(transport), std::move(p), reader ? reader->impl() : nullptr));
}

}  // namespace asyncio
