// StreamReader (Python: asyncio.StreamReader): its buffer, the wait for data, and the read
// coroutines. The protocol that feeds it and the writer are in streams.cpp.

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "asyncio/async_generator.hpp"  // StopAsyncIteration
#include "asyncio/detail/task_base.hpp"
#include "asyncio/tasks.hpp"
#include "stream_reader_impl.hpp"

namespace asyncio {
namespace detail {

// ---- StreamBuffer ----------------------------------------------------------------------------

std::span<std::byte> StreamBuffer::prepare(std::size_t min_free) {
  if (capacity_ - tail_ < min_free) {
    const std::size_t live = size();
    if (capacity_ - live >= min_free) {
      // Enough room once the consumed prefix is gone: slide the live bytes to the front.
      std::memmove(block_.get(), block_.get() + head_, live);
    } else {
      const std::size_t cap = std::max(capacity_ * 2, live + min_free);
      auto block = std::make_unique_for_overwrite<char[]>(cap);
      if (live > 0) std::memcpy(block.get(), block_.get() + head_, live);
      block_ = std::move(block);
      capacity_ = cap;
    }
    head_ = 0;
    tail_ = live;
  }
  return {reinterpret_cast<std::byte*>(block_.get() + tail_), capacity_ - tail_};
}

void StreamBuffer::append(std::string_view bytes) {
  if (bytes.empty()) return;
  std::span<std::byte> room = prepare(bytes.size());
  std::memcpy(room.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

void StreamBuffer::prepend(std::span<const std::byte> bytes) {
  if (bytes.empty()) return;
  if (head_ < bytes.size()) {
    // Make room in front: grow (or slide within the block) so the live data starts at
    // bytes.size().
    const std::size_t live = size();
    if (capacity_ < live + bytes.size()) {
      const std::size_t cap = std::max(capacity_ * 2, live + bytes.size());
      auto block = std::make_unique_for_overwrite<char[]>(cap);
      if (live > 0) std::memcpy(block.get() + bytes.size(), block_.get() + head_, live);
      block_ = std::move(block);
      capacity_ = cap;
    } else if (live > 0) {
      std::memmove(block_.get() + bytes.size(), block_.get() + head_, live);
    }
    head_ = bytes.size();
    tail_ = head_ + live;
  }
  head_ -= bytes.size();
  std::memcpy(block_.get() + head_, bytes.data(), bytes.size());
}

void StreamBuffer::consume(std::size_t n) noexcept {
  head_ += n;
  if (head_ != tail_) return;
  head_ = tail_ = 0;  // empty: the next data starts at the block's start
  if (capacity_ > keep_capacity_) {
    block_.reset();  // give a burst's memory back
    capacity_ = 0;
  }
}

// ---- StreamReaderImpl ------------------------------------------------------------------------

namespace {
/// The largest block an empty reader keeps: what one receive can add to a buffer at the
/// pause threshold (2 * limit), so a busy stream never reallocates, and bursts past it (a
/// large readexactly()) are given back.
std::size_t keep_capacity(std::size_t limit) {
  return 2 * limit + StreamBuffer::kRecvChunk;
}
}  // namespace

StreamReaderImpl::StreamReaderImpl(std::size_t limit) : limit_(limit), buf_(keep_capacity(limit)) {
  if (limit == 0) throw ValueError("Limit cannot be <= 0");
}

std::string StreamReaderImpl::take(std::size_t n) {
  if (n > size()) {
    throw std::logic_error("StreamReader: take(" + std::to_string(n) + ") with only " +
                           std::to_string(size()) + " bytes buffered");
  }
  // A copy, not a hand-over of the block: the block stays with the reader, so a connection
  // allocates only the returned string per message (one at a time, reused by malloc), never
  // a fresh receive buffer for every connection with data in the same loop iteration.
  std::string out(data(), n);
  buf_.consume(n);
  return out;
}

void StreamReaderImpl::feed_data(std::string_view data) {
  if (eof_) throw RuntimeError("feed_data after feed_eof");
  if (data.empty()) return;
  buf_.append(data);
  data_arrived();
}

std::span<std::byte> StreamReaderImpl::get_buffer(std::ptrdiff_t sizehint) {
  lent_to_ = nullptr;
  // Only into an empty buffer (the bytes stay in order) and to a waiter that can still take
  // them (not cancelled: a cancelled waiter keeps the slot until its task runs).
  if (waiter_ && !waiter_->into_.empty() && waiter_->state_ == StreamWaitAwaiter::State::Waiting &&
      size() == 0 && !eof_) {
    lent_to_ = waiter_;
    return waiter_->into_;
  }
  std::size_t want = StreamBuffer::kRecvChunk;
  if (sizehint > 0) want = std::max(want, static_cast<std::size_t>(sizehint));
  return buf_.prepare(want);
}

void StreamReaderImpl::buffer_updated(std::size_t nbytes) {
  if (eof_) throw RuntimeError("feed_data after feed_eof");
  if (nbytes == 0) return;
  if (StreamWaitAwaiter* w = std::exchange(lent_to_, nullptr)) {
    // Received into readinto()'s buffer (get_buffer() ran just before, in the same callback,
    // so `w` is still the waiting reader): the call completes with these bytes.
    w->received_ = nbytes;
    w->notify(nullptr);
    return;
  }
  buf_.commit(nbytes);
  data_arrived();
}

void StreamReaderImpl::data_arrived() {
  if (waiter_) waiter_->notify(nullptr);  // the reader re-examines the buffer when it runs
  if (transport_ && !paused_ && size() > 2 * limit_) {
    transport_->pause_reading();
    paused_ = true;
  }
}

void StreamReaderImpl::feed_eof() {
  eof_ = true;
  if (waiter_) waiter_->notify(nullptr);
}

void StreamReaderImpl::set_exception(std::exception_ptr exc) {
  exception_ = std::move(exc);
  if (waiter_) waiter_->notify(exception_);
}

void StreamReaderImpl::maybe_resume_transport() {
  if (paused_ && size() <= limit_) {
    paused_ = false;
    if (transport_) transport_->resume_reading();
  }
}

void StreamReaderImpl::begin_wait(StreamWaitAwaiter* w, const char* func_name) {
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

// ---- StreamWaitAwaiter -----------------------------------------------------------------------

StreamWaitAwaiter::~StreamWaitAwaiter() {
  release();
}

void StreamWaitAwaiter::release() noexcept {
  if (reader_->waiter_ == this) reader_->waiter_ = nullptr;
  if (reader_->lent_to_ == this) reader_->lent_to_ = nullptr;
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
  if (received_ == 0) {
    task_->throw_if_must_cancel();
  } else {
    try {
      task_->throw_if_must_cancel();
    } catch (...) {
      // Cancelled after the transport received into readinto()'s buffer but before the task
      // ran: the call fails, so the bytes go back in front of the reader's buffer (where a
      // plain read would have left them), nothing is lost.
      reader_->buf_.prepend(into_.first(received_));
      received_ = 0;
      throw;
    }
  }
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

Coro<std::size_t> stream_readinto(std::shared_ptr<StreamReaderImpl> r, std::span<std::byte> out) {
  if (r->exception_) std::rethrow_exception(r->exception_);
  if (out.empty()) co_return 0;
  if (r->size() == 0 && !r->eof_) {
    StreamWaitAwaiter wait(*r, "readinto", out);
    co_await wait;
    if (wait.received() > 0) co_return wait.received();  // received straight into `out`
  }
  // As read(n): another reader may have emptied the buffer since the wake-up (then 0).
  const std::size_t n = std::min(out.size(), r->size());
  if (n > 0) std::memcpy(out.data(), r->data(), n);
  r->drop(n);
  r->maybe_resume_transport();
  co_return n;
}

}  // namespace
}  // namespace detail

// ---- StreamReader ----------------------------------------------------------------------------

StreamReader::StreamReader(std::size_t limit)
    : impl_(std::make_shared<detail::StreamReaderImpl>(limit)) {}

Coro<std::string> StreamReader::read(std::ptrdiff_t n) {
  return detail::stream_read(impl_, n);
}
Coro<std::size_t> StreamReader::readinto(std::span<std::byte> buffer) {
  return detail::stream_readinto(impl_, buffer);
}
Coro<std::size_t> StreamReader::readinto(std::span<char> buffer) {
  return detail::stream_readinto(impl_, std::as_writable_bytes(buffer));
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

}  // namespace asyncio
