// Internal: the state behind asyncio::StreamReader (Python: asyncio.StreamReader's _buffer,
// _waiter, _eof, _exception, _paused) and the awaiter a read suspends on. The read coroutines
// and StreamReader's methods are in stream_reader.cpp; the protocol that feeds the reader
// (StreamReaderProtocol) and the writer are in streams.cpp. Not a public header.
#pragma once

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "asyncio/detail/future_base.hpp"
#include "asyncio/streams.hpp"
#include "asyncio/transports.hpp"

namespace asyncio::detail {

/// The reader's bytes: the live range [head_, tail_) of one heap block. Consuming moves
/// head_ (no copy); an empty buffer rewinds to the block's start. The block is kept across
/// reads (a connection in a request/response rhythm allocates nothing per message), so the
/// transport can receive straight into its free tail (prepare()/commit()). Invariant:
/// head_ <= tail_ <= capacity_; the block is only released once empty and over
/// `keep_capacity`.
class StreamBuffer {
 public:
  /// The free tail offered to a receive when the protocol asks for "any size": big enough that
  /// a bulk transfer takes few recv() calls, small enough for many idle connections (pages are
  /// touched only as far as data is written).
  static constexpr std::size_t kRecvChunk = 64 * 1024;

  explicit StreamBuffer(std::size_t keep_capacity) noexcept : keep_capacity_(keep_capacity) {}
  StreamBuffer(const StreamBuffer&) = delete;
  StreamBuffer& operator=(const StreamBuffer&) = delete;

  std::size_t size() const noexcept { return tail_ - head_; }
  const char* data() const noexcept { return block_.get() + head_; }
  std::string_view view() const noexcept { return {data(), size()}; }
  std::size_t capacity() const noexcept { return capacity_; }

  /// Appends a copy of `bytes`.
  void append(std::string_view bytes);
  /// At least `min_free` writable bytes after the live data (compacting or growing the block).
  std::span<std::byte> prepare(std::size_t min_free);
  /// `n` bytes were written at the start of the last prepare() span. Requires n <= that span.
  void commit(std::size_t n) noexcept { tail_ += n; }
  /// Puts `bytes` back in front of the live data (a cancelled readinto()'s bytes).
  void prepend(std::span<const std::byte> bytes);
  /// Drops the first `n` live bytes (n <= size()).
  void consume(std::size_t n) noexcept;
  void clear() noexcept { consume(size()); }

 private:
  std::unique_ptr<char[]> block_;  // uninitialised storage: nothing is zeroed
  std::size_t capacity_ = 0;
  std::size_t head_ = 0;
  std::size_t tail_ = 0;
  std::size_t keep_capacity_;
};

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
  /// readinto()'s wait: while the reader's buffer is empty, the transport may receive
  /// straight into `into` (StreamReaderImpl::get_buffer); received() then says how much.
  StreamWaitAwaiter(StreamReaderImpl& reader, const char* func_name,
                    std::span<std::byte> into) noexcept
      : reader_(&reader), func_name_(func_name), into_(into) {}
  StreamWaitAwaiter(const StreamWaitAwaiter&) = delete;
  StreamWaitAwaiter& operator=(const StreamWaitAwaiter&) = delete;
  ~StreamWaitAwaiter();

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h);
  void await_resume();
  bool cancel_awaited(const std::string& message) override;
  /// Bytes the transport received straight into the caller's buffer (readinto()).
  std::size_t received() const noexcept { return received_; }
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
  std::exception_ptr error_;   // set_exception()'s error, thrown by await_resume()
  std::span<std::byte> into_;  // readinto()'s buffer: may be lent to the transport
  std::size_t received_ = 0;   // bytes received into `into_` (then the wait is over)
  TaskBase* task_ = nullptr;
  std::string cancel_message_;
};

/// The shared state of a StreamReader and its handles.
class StreamReaderImpl {
 public:
  /// Throws ValueError("Limit cannot be <= 0") for a zero limit, as Python.
  explicit StreamReaderImpl(std::size_t limit);

  std::size_t size() const noexcept { return buf_.size(); }
  const char* data() const noexcept { return buf_.data(); }
  std::string_view view() const noexcept { return buf_.view(); }

  /// Removes and returns (a copy of) the first `n` buffered bytes. Callers compute `n` from
  /// the buffer as it is now; asking for more is a logic error, reported rather than read
  /// out of bounds.
  std::string take(std::size_t n);
  /// Removes up to `n` bytes.
  void drop(std::size_t n) noexcept { buf_.consume(std::min(n, size())); }
  void clear() noexcept { buf_.clear(); }

  /// Python: feed_data(). Throws RuntimeError after feed_eof().
  void feed_data(std::string_view data);
  /// The transport's receive path (StreamReaderProtocol is a BufferedProtocol): the free tail
  /// of the buffer, at least max(sizehint, StreamBuffer::kRecvChunk) bytes, then
  /// buffer_updated(n) accounts for what was received into it (as feed_data() without the
  /// copy). Zero-copy hand-off: while a readinto() waits on an empty buffer, the span is that
  /// call's own buffer, and what is received belongs to the call (it completes with it).
  std::span<std::byte> get_buffer(std::ptrdiff_t sizehint);
  void buffer_updated(std::size_t nbytes);
  void feed_eof();
  void set_exception(std::exception_ptr exc);
  /// Python's _maybe_resume_transport().
  void maybe_resume_transport();
  /// Python's _wait_for_data prologue.
  void begin_wait(StreamWaitAwaiter* w, const char* func_name);

  std::size_t limit_;
  StreamBuffer buf_;
  bool eof_ = false;
  bool paused_ = false;
  std::exception_ptr exception_;
  std::shared_ptr<Transport> transport_;
  /// Python's _waiter: the coroutine waiting for data. Cleared by a wake-up (feed_data,
  /// feed_eof, set_exception) and by its owner, never by another reader.
  StreamWaitAwaiter* waiter_ = nullptr;
  /// The waiter whose buffer the last get_buffer() returned (until buffer_updated()).
  StreamWaitAwaiter* lent_to_ = nullptr;

 private:
  /// After data arrived: wake the waiting reader, pause the transport over 2 * limit.
  void data_arrived();
};

}  // namespace asyncio::detail
