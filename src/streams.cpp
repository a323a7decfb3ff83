// StreamReader, StreamWriter, StreamReaderProtocol, open_connection, start_server (Python:
// asyncio/streams.py).

#include "asyncio/streams.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "asyncio/async_generator.hpp"  // StopAsyncIteration
#include "asyncio/detail/task_base.hpp"
#include "asyncio/ssl.hpp"
#include "asyncio/tasks.hpp"

namespace asyncio {
namespace detail {

class StreamReaderImpl;

/// Python's StreamReader._wait_for_data(): suspends the read coroutine until feed_data(),
/// feed_eof() or set_exception() (a leaf awaiter, docs/internals.md). The read methods are
/// loops around it that re-examine the buffer each time the task runs again (as CPython's),
/// because other readers may have consumed data between the wake-up and the resumption.
/// Invariant: the reader's waiter slot is released only by its owner (see ~StreamWaitAwaiter).
class StreamWaitAwaiter final : public Suspension {
 public:
  StreamWaitAwaiter(StreamReaderImpl& reader, const char* func_name) noexcept
      : reader_(&reader), func_name_(func_name) {}
  StreamWaitAwaiter(const StreamWaitAwaiter&) = delete;
  StreamWaitAwaiter& operator=(const StreamWaitAwaiter&) = delete;
  ~StreamWaitAwaiter();

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h);
  void await_resume();
  bool cancel_awaited(const std::string& message) override;
  /// Call graphs: e.g. "StreamReader.readline".
  std::string describe_wait() const override {
    return std::string("StreamReader.") + (func_name_ ? func_name_ : "read");
  }

 private:
  friend class StreamReaderImpl;
  enum class State : std::uint8_t { Idle, Waiting, Woken, Cancelled };
  /// Python's _wakeup_waiter() / set_exception(): frees the slot and wakes the task unless
  /// it was cancelled already.
  void notify(std::exception_ptr exc) noexcept;
  void release() noexcept;

  StreamReaderImpl* reader_;
  const char* func_name_;
  State state_ = State::Idle;
  std::exception_ptr error_;  // set_exception()'s error, thrown by await_resume()
  TaskBase* task_ = nullptr;
  std::string cancel_message_;
};

// ---- StreamReaderImpl ------------------------------------------------------------------------

class StreamReaderImpl {
 public:
  explicit StreamReaderImpl(std::size_t limit) : limit_(limit) {
    if (limit == 0) throw ValueError("Limit cannot be <= 0");
  }

  std::size_t size() const noexcept { return buf_.size() - head_; }
  const char* data() const noexcept { return buf_.data() + head_; }
  std::string_view view() const noexcept { return {data(), size()}; }

  /// Removes and returns the first `n` buffered bytes. Callers compute `n` from the buffer as
  /// it is now; asking for more is a logic error, reported rather than read out of bounds.
  std::string take(std::size_t n) {
    if (n > size()) {
      throw std::logic_error("StreamReader: take(" + std::to_string(n) + ") with only " +
                             std::to_string(size()) + " bytes buffered");
    }
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
    head_ += std::min(n, size());
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
    if (waiter_) waiter_->notify(nullptr);  // the reader re-examines the buffer when it runs
    if (transport_ && !paused_ && size() > 2 * limit_) {
      transport_->pause_reading();
      paused_ = true;
    }
  }

  void feed_eof() {
    eof_ = true;
    if (waiter_) waiter_->notify(nullptr);
  }

  void set_exception(std::exception_ptr exc) {
    exception_ = std::move(exc);
    if (waiter_) waiter_->notify(exception_);
  }

  void maybe_resume_transport() {
    if (paused_ && size() <= limit_) {
      paused_ = false;
      if (transport_) transport_->resume_reading();
    }
  }

  /// Python's _wait_for_data prologue.
  void begin_wait(StreamWaitAwaiter* w, const char* func_name) {
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
  /// Python's _waiter: the coroutine waiting for data. Cleared by a wake-up (feed_data,
  /// feed_eof, set_exception) and by its owner, never by another reader.
  StreamWaitAwaiter* waiter_ = nullptr;
};

// ---- StreamWaitAwaiter -----------------------------------------------------------------------

StreamWaitAwaiter::~StreamWaitAwaiter() {
  release();
}

void StreamWaitAwaiter::release() noexcept {
  if (reader_->waiter_ == this) reader_->waiter_ = nullptr;
}

void StreamWaitAwaiter::await_suspend(std::coroutine_handle<> h) {
  TaskBase& task = current_task_for("read from a stream");
  reader_->begin_wait(this, func_name_);
  task_ = &task;
  state_ = State::Waiting;
  task.suspend(h, this);
}

void StreamWaitAwaiter::notify(std::exception_ptr exc) noexcept {
  reader_->waiter_ = nullptr;
  if (state_ != State::Waiting) return;  // cancelled: the task is scheduled already
  error_ = std::move(exc);
  state_ = State::Woken;
  task_->wake();
}

bool StreamWaitAwaiter::cancel_awaited(const std::string& message) {
  if (state_ != State::Waiting) return false;
  // As Python's cancelled _waiter future, the slot stays taken until the task runs (another
  // reader gets RuntimeError meanwhile) or new data/EOF/an exception frees it.
  state_ = State::Cancelled;
  cancel_message_ = message;
  task_->wake();
  return true;
}

void StreamWaitAwaiter::await_resume() {
  release();  // Python's `finally: self._waiter = None`, but only if the slot is still ours
  if (state_ == State::Cancelled) {
    task_->consume_must_cancel();  // the first cancellation's message wins (CPython)
    throw CancelledError(std::move(cancel_message_));
  }
  task_->throw_if_must_cancel();
  if (error_) std::rethrow_exception(error_);
}

// ---- The read coroutines (Python: StreamReader.read/readexactly/readuntil/readline) -----------
//
// Each is CPython's loop: examine the buffer as it is NOW, complete if possible, else wait and
// examine it again. Nothing computed before a wait is trusted after it except readuntil's
// `offset`, which CPython keeps too (bytes known not to start the separator).

namespace {

/// readuntil()'s LimitOverrunError; readline() turns it into ValueError after dropping the
/// line (through its separator, when the separator is at `consumed`) or the whole buffer.
[[noreturn]] void limit_overrun(StreamReaderImpl& r, const char* message, std::size_t consumed,
                                std::string_view sep, bool line) {
  if (!line) throw LimitOverrunError(message, consumed);
  if (consumed <= r.size() && r.view().substr(consumed).starts_with(sep)) {
    r.drop(consumed + sep.size());
  } else {
    r.clear();
  }
  r.maybe_resume_transport();
  throw ValueError(message);
}

Coro<std::string> stream_read(std::shared_ptr<StreamReaderImpl> r, std::ptrdiff_t n) {
  if (r->exception_) std::rethrow_exception(r->exception_);
  if (n == 0) co_return std::string();
  if (n < 0) {
    // Python: read(limit) until one returns b"": at EOF, or when another reader took the data
    // this task was woken for. Taking the whole buffer at once is the same (no yield between
    // Python's blocks) and avoids a copy.
    std::string all;
    while (true) {
      if (r->exception_) std::rethrow_exception(r->exception_);
      if (r->size() == 0 && !r->eof_) co_await StreamWaitAwaiter(*r, "read");
      std::string block = r->take(r->size());
      r->maybe_resume_transport();
      if (block.empty()) break;
      if (all.empty()) {
        all = std::move(block);
      } else {
        all += block;
      }
    }
    co_return all;
  }
  if (r->size() == 0 && !r->eof_) co_await StreamWaitAwaiter(*r, "read");
  // Another reader may have emptied the buffer since the wake-up: then "" (as Python).
  std::string data = r->take(std::min(static_cast<std::size_t>(n), r->size()));
  r->maybe_resume_transport();
  co_return data;
}

Coro<std::string> stream_readexactly(std::shared_ptr<StreamReaderImpl> r, std::ptrdiff_t size) {
  // Python checks the size before the stream's exception.
  if (size < 0) throw ValueError("readexactly size can not be less than zero");
  const auto n = static_cast<std::size_t>(size);
  if (r->exception_) std::rethrow_exception(r->exception_);
  if (n == 0) co_return std::string();
  while (r->size() < n) {
    if (r->eof_) {
      std::string partial = r->take(r->size());
      throw IncompleteReadError(std::move(partial), n);
    }
    co_await StreamWaitAwaiter(*r, "readexactly");
  }
  std::string data = r->take(n);
  r->maybe_resume_transport();
  co_return data;
}

/// readuntil(sep); with `line`, readline()'s handling of its errors (one coroutine frame).
Coro<std::string> stream_readuntil(std::shared_ptr<StreamReaderImpl> r, std::string sep,
                                   bool line) {
  const std::size_t seplen = sep.size();
  if (seplen == 0) throw ValueError("Separator should be at least one-byte string");
  if (r->exception_) std::rethrow_exception(r->exception_);
  std::size_t offset = 0;  // CPython's: bytes known not to start the separator
  std::size_t isep = 0;
  while (true) {
    const std::size_t buflen = r->size();
    if (buflen >= offset + seplen) {
      isep = r->view().find(sep, offset);
      if (isep != std::string_view::npos) break;
      offset = buflen + 1 - seplen;
      if (offset > r->limit_) {
        limit_overrun(*r, "Separator is not found, and chunk exceed the limit", offset, sep, line);
      }
    }
    if (r->eof_) {
      std::string partial = r->take(r->size());
      if (line) co_return partial;
      throw IncompleteReadError(std::move(partial), std::nullopt);
    }
    co_await StreamWaitAwaiter(*r, "readuntil");
  }
  if (isep > r->limit_) {
    limit_overrun(*r, "Separator is found, but chunk is longer than limit", isep, sep, line);
  }
  std::string chunk = r->take(isep + seplen);
  r->maybe_resume_transport();
  co_return chunk;
}

/// readuntil() with several separators (Python 3.13: readuntil(tuple)). CPython 3.13's
/// algorithm: the separators are sorted by length, and the match that ENDS first wins (the
/// shortest chunk that has any separator as its suffix; on a tie the shortest separator, as
/// the sort is stable and only a strictly earlier end replaces a match). `offset` advances
/// by the longest separator, as CPython's.
Coro<std::string> stream_readuntil_any(std::shared_ptr<StreamReaderImpl> r,
                                       std::vector<std::string> seps) {
  if (seps.empty()) throw ValueError("Separator should contain at least one element");
  std::stable_sort(seps.begin(), seps.end(),
                   [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
  if (seps.front().empty()) throw ValueError("Separator should be at least one-byte string");
  if (r->exception_) std::rethrow_exception(r->exception_);
  const std::size_t min_seplen = seps.front().size();
  const std::size_t max_seplen = seps.back().size();
  std::size_t offset = 0;
  std::size_t match_start = 0;
  std::size_t match_end = 0;  // 0: no match yet (a match always ends after its first byte)
  while (true) {
    const std::size_t buflen = r->size();
    if (buflen >= offset + min_seplen) {
      const std::string_view buf = r->view();
      for (const std::string& sep : seps) {
        const std::size_t at = buf.find(sep, offset);
        if (at == std::string_view::npos) continue;
        if (match_end == 0 || at + sep.size() < match_end) {
          match_start = at;
          match_end = at + sep.size();
        }
      }
      if (match_end != 0) break;
      offset = buflen + 1 > max_seplen ? buflen + 1 - max_seplen : 0;
      if (offset > r->limit_) {
        throw LimitOverrunError("Separator is not found, and chunk exceed the limit", offset);
      }
    }
    if (r->eof_) throw IncompleteReadError(r->take(r->size()), std::nullopt);
    co_await StreamWaitAwaiter(*r, "readuntil");
  }
  if (match_start > r->limit_) {
    throw LimitOverrunError("Separator is found, but chunk is longer than limit", match_start);
  }
  std::string chunk = r->take(match_end);
  r->maybe_resume_transport();
  co_return chunk;
}

}  // namespace

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

// ---- StreamReader ----------------------------------------------------------------------------

StreamReader::StreamReader(std::size_t limit)
    : impl_(std::make_shared<detail::StreamReaderImpl>(limit)) {}

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

Coro<std::string> StreamReader::read(std::ptrdiff_t n) {
  return detail::stream_read(impl_, n);
}
Coro<std::string> StreamReader::readline() {
  return detail::stream_readuntil(impl_, "\n", true);
}
namespace {
// Python: StreamReader.__anext__: a line, or the end at b''.
Coro<std::optional<std::string>> next_line(std::shared_ptr<detail::StreamReaderImpl> impl) {
  std::string line = co_await detail::stream_readuntil(impl, "\n", true);
  if (line.empty()) co_return std::nullopt;
  co_return line;
}
Coro<std::string> anext_line(std::shared_ptr<detail::StreamReaderImpl> impl) {
  std::string line = co_await detail::stream_readuntil(impl, "\n", true);
  if (line.empty()) throw StopAsyncIteration();
  co_return line;
}
}  // namespace
Coro<std::optional<std::string>> StreamReader::next() {
  return next_line(impl_);
}
Coro<std::string> StreamReader::anext() {
  return anext_line(impl_);
}
Coro<std::string> StreamReader::readuntil(std::string_view separator) {
  return detail::stream_readuntil(impl_, std::string(separator), false);
}
Coro<std::string> StreamReader::readuntil(std::span<const std::string_view> separators) {
  return detail::stream_readuntil_any(
      impl_, std::vector<std::string>(separators.begin(), separators.end()));
}
Coro<std::string> StreamReader::readexactly(std::ptrdiff_t n) {
  return detail::stream_readexactly(impl_, n);
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
