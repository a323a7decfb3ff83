// StreamReader, StreamWriter, StreamReaderProtocol, open_connection, start_server (Python:
// asyncio/streams.py).

#include "asyncio/streams.hpp"

#include <algorithm>
#include <cstring>

#include "asyncio/detail/task_base.hpp"
#include "asyncio/ssl.hpp"
#include "asyncio/tasks.hpp"

namespace asyncio {
namespace detail {

// ---- StreamReaderImpl ------------------------------------------------------------------------

class StreamReaderImpl {
 public:
  explicit StreamReaderImpl(std::size_t limit) : limit_(limit) {
    if (limit == 0) throw ValueError("Limit cannot be <= 0");
  }

  std::size_t size() const noexcept { return buf_.size() - head_; }
  const char* data() const noexcept { return buf_.data() + head_; }
  std::string_view view() const noexcept { return {data(), size()}; }

  /// Removes and returns the first `n` buffered bytes (n <= size()).
  std::string take(std::size_t n) {
    std::string out;
    if (n == size() && head_ == 0) {
      out = std::move(buf_);  // hand the whole buffer over: no copy
      buf_ = std::string();
    } else {
      out.assign(data(), n);
      head_ += n;
      if (head_ == buf_.size()) {
        buf_.clear();
        head_ = 0;
      }
    }
    return out;
  }
  void drop(std::size_t n) noexcept {
    head_ += n;
    if (head_ >= buf_.size()) {
      buf_.clear();
      head_ = 0;
    }
  }
  void clear() noexcept {
    buf_.clear();
    head_ = 0;
  }

  void feed_data(std::string_view data) {
    if (eof_) throw RuntimeError("feed_data after feed_eof");
    if (data.empty()) return;
    if (head_ > 0 && head_ >= buf_.size() / 2) {
      buf_.erase(0, head_);  // compact: the consumed prefix is at least half
      head_ = 0;
    }
    buf_.append(data);
    bool waiting = false;
    if (waiter_) {
      waiter_->notify(false);
      waiting = waiter_ != nullptr;  // still waiting for more: do not pause (Python resumes)
    }
    if (transport_ && !paused_ && !waiting && size() > 2 * limit_) {
      transport_->pause_reading();
      paused_ = true;
    }
  }

  void feed_eof() {
    eof_ = true;
    if (waiter_) waiter_->notify(false);
  }

  void set_exception(std::exception_ptr exc) {
    exception_ = std::move(exc);
    if (waiter_) waiter_->notify(true);
  }

  void maybe_resume_transport() {
    if (paused_ && size() <= limit_) {
      paused_ = false;
      if (transport_) transport_->resume_reading();
    }
  }

  /// Python's _wait_for_data prologue.
  void begin_wait(StreamReadAwaiter* w, const char* func_name) {
    if (waiter_) {
      throw RuntimeError(std::string(func_name) +
                         "() called while another coroutine is already waiting for incoming data");
    }
    // Waiting for data while paused would deadlock (readexactly(n) with n > limit).
    if (paused_) {
      paused_ = false;
      if (transport_) transport_->resume_reading();
    }
    waiter_ = w;
  }

  std::size_t limit_;
  std::string buf_;
  std::size_t head_ = 0;
  bool eof_ = false;
  bool paused_ = false;
  std::exception_ptr exception_;
  std::shared_ptr<Transport> transport_;
  StreamReadAwaiter* waiter_ = nullptr;
};

// ---- StreamReadAwaiter -----------------------------------------------------------------------

namespace {
const char* func_name(StreamReadAwaiter::Kind k) {
  switch (k) {
    case StreamReadAwaiter::Kind::Read:
    case StreamReadAwaiter::Kind::ReadAll:
      return "read";
    case StreamReadAwaiter::Kind::ReadExactly:
      return "readexactly";
    case StreamReadAwaiter::Kind::ReadUntil:
    case StreamReadAwaiter::Kind::ReadLine:
      return "readuntil";
  }
  return "read";
}
}  // namespace

StreamReadAwaiter::~StreamReadAwaiter() {
  if (state_ == State::Waiting && reader_->waiter_ == this) reader_->waiter_ = nullptr;
}

StreamReadAwaiter::Scan StreamReadAwaiter::scan() {
  StreamReaderImpl& r = *reader_;
  switch (kind_) {
    case Kind::Read:
      return (r.size() > 0 || r.eof_) ? Scan::Ready : Scan::NeedMore;
    case Kind::ReadAll:
      return r.eof_ ? Scan::Ready : Scan::NeedMore;
    case Kind::ReadExactly:
      return (r.size() >= static_cast<std::size_t>(n_) || r.eof_) ? Scan::Ready : Scan::NeedMore;
    case Kind::ReadUntil:
    case Kind::ReadLine: {
      // Python's readuntil loop: `offset_` bytes from the start are known not to begin the
      // separator; stop when it is found, the limit is exceeded, or at EOF.
      if (isep_ != std::string_view::npos) return Scan::Ready;
      std::size_t seplen = separator_.size();
      std::size_t buflen = r.size();
      if (buflen >= offset_ + seplen) {
        isep_ = r.view().find(separator_, offset_);
        if (isep_ != std::string_view::npos) return Scan::Ready;
        offset_ = buflen + 1 - seplen;
        if (offset_ > r.limit_) return Scan::Ready;  // LimitOverrunError
      }
      return r.eof_ ? Scan::Ready : Scan::NeedMore;
    }
  }
  return Scan::Ready;
}

bool StreamReadAwaiter::await_ready() {
  StreamReaderImpl& r = *reader_;
  if (kind_ == Kind::ReadUntil || kind_ == Kind::ReadLine) {
    if (separator_.empty()) throw ValueError("Separator should be at least one-byte string");
  }
  if (r.exception_) return true;
  if ((kind_ == Kind::Read || kind_ == Kind::ReadExactly) && n_ == 0) return true;
  return scan() == Scan::Ready;
}

void StreamReadAwaiter::await_suspend(std::coroutine_handle<> h) {
  TaskBase& task = current_task_for("read from a stream");
  reader_->begin_wait(this, func_name(kind_));
  task_ = &task;
  state_ = State::Waiting;
  task.suspend(h, this);
}

void StreamReadAwaiter::notify(bool exception) noexcept {
  if (state_ != State::Waiting) return;
  if (!exception && scan() == Scan::NeedMore) return;
  by_exception_ = exception;
  state_ = State::Woken;
  reader_->waiter_ = nullptr;
  task_->wake();
}

bool StreamReadAwaiter::cancel_awaited(const std::string& message) {
  if (state_ != State::Waiting) return false;
  if (reader_->waiter_ == this) reader_->waiter_ = nullptr;
  state_ = State::Cancelled;
  cancel_message_ = message;
  task_->wake();
  return true;
}

std::string StreamReadAwaiter::await_resume() {
  if (state_ == State::Cancelled) {
    task_->consume_must_cancel();  // the first cancellation's message wins (CPython)
    throw CancelledError(std::move(cancel_message_));
  }
  if (task_) task_->throw_if_must_cancel();
  if (by_exception_) std::rethrow_exception(reader_->exception_);
  return complete();
}

std::string StreamReadAwaiter::complete() {
  StreamReaderImpl& r = *reader_;
  if (state_ == State::Idle && r.exception_) std::rethrow_exception(r.exception_);
  switch (kind_) {
    case Kind::Read: {
      if (n_ == 0) return {};
      std::string data = r.take(std::min(static_cast<std::size_t>(n_), r.size()));
      r.maybe_resume_transport();
      return data;
    }
    case Kind::ReadAll: {
      std::string data = r.take(r.size());
      r.maybe_resume_transport();
      return data;
    }
    case Kind::ReadExactly: {
      auto n = static_cast<std::size_t>(n_);
      if (n == 0) return {};
      if (r.size() < n) {
        std::string partial = r.take(r.size());
        throw IncompleteReadError(std::move(partial), n);
      }
      std::string data = r.take(n);
      r.maybe_resume_transport();
      return data;
    }
    case Kind::ReadUntil:
    case Kind::ReadLine: {
      const bool line = kind_ == Kind::ReadLine;
      const std::size_t seplen = separator_.size();
      scan();
      try {
        if (isep_ == std::string_view::npos) {
          if (offset_ > r.limit_) {
            throw LimitOverrunError("Separator is not found, and chunk exceed the limit", offset_);
          }
          std::string partial = r.take(r.size());  // EOF without the separator
          throw IncompleteReadError(std::move(partial), std::nullopt);
        }
        if (isep_ > r.limit_)
          throw LimitOverrunError("Separator is found, but chunk is longer than limit", isep_);
      } catch (const IncompleteReadError& e) {
        if (line) return e.partial();
        throw;
      } catch (const LimitOverrunError& e) {
        if (!line) throw;
        if (e.consumed() <= r.size() && r.view().substr(e.consumed()).starts_with(separator_)) {
          r.drop(e.consumed() + seplen);
        } else {
          r.clear();
        }
        r.maybe_resume_transport();
        throw ValueError(e.what());
      }
      std::string chunk = r.take(isep_ + seplen);
      r.maybe_resume_transport();
      return chunk;
    }
  }
  return {};
}

// ---- StreamReaderProtocol --------------------------------------------------------------------

class StreamReaderProtocol final : public Protocol,
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
  void data_received(std::span<const std::byte> data) override {
    if (reader_) reader_->feed_data(as_chars(data));
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
    error_ = std::make_exception_ptr(ConnectionResetError(ECONNRESET, "Connection lost"));
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

// ---- StreamReader ----------------------------------------------------------------------------

StreamReader::StreamReader(std::size_t limit)
    : impl_(std::make_shared<detail::StreamReaderImpl>(limit)) {}

namespace detail {
namespace {
Coro<std::string> stream_read(std::shared_ptr<StreamReaderImpl> impl, StreamReadAwaiter::Kind kind,
                              std::ptrdiff_t n, std::string separator) {
  co_return co_await StreamReadAwaiter(*impl, kind, n, std::move(separator));
}
Coro<void> stream_drain(std::shared_ptr<StreamWriterImpl> impl) {
  co_await DrainAwaiter(std::move(impl));
}
Coro<void> stream_wait_closed(std::shared_ptr<StreamReaderProtocol> protocol) {
  co_await CloseWaiter(std::move(protocol));
}
}  // namespace
}  // namespace detail

Coro<std::string> StreamReader::read(std::ptrdiff_t n) {
  using K = detail::StreamReadAwaiter::Kind;
  return detail::stream_read(impl_, n < 0 ? K::ReadAll : K::Read, n, {});
}
Coro<std::string> StreamReader::readline() {
  return detail::stream_read(impl_, detail::StreamReadAwaiter::Kind::ReadLine, 0, "\n");
}
Coro<std::string> StreamReader::readuntil(std::string_view separator) {
  return detail::stream_read(impl_, detail::StreamReadAwaiter::Kind::ReadUntil, 0,
                             std::string(separator));
}
Coro<std::string> StreamReader::readexactly(std::size_t n) {
  return detail::stream_read(impl_, detail::StreamReadAwaiter::Kind::ReadExactly,
                             static_cast<std::ptrdiff_t>(n), {});
}
bool StreamReader::at_eof() const noexcept {
  return impl_->eof_ && impl_->size() == 0;
}
std::exception_ptr StreamReader::exception() const noexcept {
  return impl_->exception_;
}
void StreamReader::set_exception(std::exception_ptr exc) {
  impl_->set_exception(std::move(exc));
}
void StreamReader::feed_data(std::span<const std::byte> data) {
  impl_->feed_data({reinterpret_cast<const char*>(data.data()), data.size()});
}
void StreamReader::feed_data(std::string_view data) {
  impl_->feed_data(data);
}
void StreamReader::feed_eof() {
  impl_->feed_eof();
}
std::size_t StreamReader::buffered_size() const noexcept {
  return impl_->size();
}
std::size_t StreamReader::limit() const noexcept {
  return impl_->limit_;
}

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

namespace {
ProtocolFactory stream_factory(ClientConnectedCallback cb, std::size_t limit) {
  if (!cb) throw ValueError("client_connected_cb is required");
  if (limit == 0) throw ValueError("Limit cannot be <= 0");
  auto shared_cb = std::make_shared<ClientConnectedCallback>(std::move(cb));
  return [shared_cb, limit]() -> std::shared_ptr<Protocol> {
    return std::make_shared<detail::StreamReaderProtocol>(
        std::make_shared<detail::StreamReaderImpl>(limit), shared_cb);
  };
}
}  // namespace

Coro<Server> start_server(ClientConnectedCallback client_connected_cb, std::string host,
                          std::uint16_t port, ServerOptions opts, std::size_t limit) {
  return create_server(stream_factory(std::move(client_connected_cb), limit), std::move(host), port,
                       std::move(opts));
}

Coro<Server> start_unix_server(ClientConnectedCallback client_connected_cb, std::string path,
                               UnixServerOptions opts, std::size_t limit) {
  return create_unix_server(stream_factory(std::move(client_connected_cb), limit), std::move(path),
                            std::move(opts));
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
