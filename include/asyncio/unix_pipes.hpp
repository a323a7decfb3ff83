// asyncio/unix_pipes.hpp — pipe transports (Python: unix_events._UnixReadPipeTransport,
// _UnixWritePipeTransport, loop.connect_read_pipe / loop.connect_write_pipe).
//
// A ReadPipeTransport reads a pipe (or socket, or character device) as data arrives and hands
// it to an asyncio::Protocol; a WritePipeTransport buffers what cannot be written at once, writes
// it as the pipe drains, and tells its protocol to pause_writing()/resume_writing() around its
// high/low water marks (64 KiB / 16 KiB by default). Both are driven by the loop's poll phase
// with no allocation per event. They own their fd (closed after connection_lost()); writing
// never raises SIGPIPE (a closed reader shows up as BrokenPipeError / connection_lost).
// The subprocess transports (asyncio/subprocess.hpp) use them for the child's stdin, stdout
// and stderr.
//
//   auto [transport, protocol] = co_await asyncio::connect_read_pipe(
//       [] { return std::make_shared<MyProtocol>(); }, fds[0]);   // MyProtocol: asyncio::Protocol
#pragma once

#include <any>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "asyncio/coroutines.hpp"
#include "asyncio/detail/loop_access.hpp"
#include "asyncio/events.hpp"
#include "asyncio/protocols.hpp"
#include "asyncio/transports.hpp"

namespace asyncio {

namespace detail {
struct PipeAccess;
}  // namespace detail

/// What ReadPipeTransport and WritePipeTransport have in common. A pipe transport is an
/// asyncio::Transport (Python has ReadTransport and WriteTransport; here one interface covers
/// both, and the half that does not apply is inert: a read pipe throws RuntimeError on
/// write(), a write pipe never reads). Its protocol is an asyncio::Protocol. Held by
/// std::shared_ptr; deferred callbacks keep it alive until they have run.
///
/// Unlike socket transports, an exception thrown by the protocol is reported to the loop's
/// exception handler and the pipe carries on (Python's pipe transports let it propagate to
/// the loop, which logs it).
class PipeTransport : public Transport, private detail::IoHandler, private detail::LoopCloseHook {
 public:
  ~PipeTransport() override;

  /// The pipe's fd (Python: get_extra_info('pipe').fileno()); -1 once closed.
  int fileno() const noexcept { return fd_; }
  /// "pipe": the fd (int) while open.
  /// Python: _UnixReadPipeTransport/_UnixWritePipeTransport.get_extra_info().
  std::any get_extra_info(std::string_view name) const override;
  /// Python: is_closing() of the pipe transports.
  bool is_closing() const noexcept override { return closing_; }
  /// Replaces the protocol; it must be an asyncio::Protocol (else ValueError).
  /// Python: set_protocol() of the pipe transports.
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override;
  /// The protocol; null once connection_lost() was delivered.
  /// Python: get_protocol() of the pipe transports.
  std::shared_ptr<BaseProtocol> get_protocol() const override;

 protected:
  /// Adopts `fd` (non-blocking) on `loop`; `protocol` receives the events, `owner` keeps it
  /// alive (null when the subprocess transport owns it).
  PipeTransport(EventLoop& loop, int fd, Protocol* protocol, std::shared_ptr<BaseProtocol> owner);

  /// Sets what the loop watches the fd for (false, false: nothing).
  /// C++ only: internal (Python: loop._add_reader/_add_writer).
  void watch(bool readable, bool writable);
  /// Schedules connection_lost(exc) on the loop (Python: call_soon(_call_connection_lost)).
  void schedule_connection_lost(std::exception_ptr exc);
  /// Calls the protocol's connection_lost(exc), then closes the fd.
  /// Python: _call_connection_lost() of the pipe transports.
  void call_connection_lost(std::exception_ptr exc) noexcept;
  /// Reports the exception being handled, thrown by the protocol's `method`.
  /// C++ only: internal (Python: _fatal_error's logging).
  void report_protocol_error(const char* method) noexcept;

  EventLoop* loop_;     ///< The loop; null once the loop closed.
  int fd_;              ///< The pipe's fd; -1 once closed.
  Protocol* protocol_;  ///< Receives the events; null once connection_lost() was delivered.
  /// Keeps protocol_ alive; null for the subprocess transport's own protocols.
  std::shared_ptr<BaseProtocol> protocol_owner_;
  bool closing_ = false;  ///< close() or abort() was called, or the pipe failed.

 private:
  friend struct detail::PipeAccess;
  void on_loop_close() noexcept override;
  void close_fd() noexcept;

  bool watch_read_ = false;
  bool watch_write_ = false;
};

/// Reads a pipe as data arrives (Python: _UnixReadPipeTransport, a ReadTransport).
class ReadPipeTransport final : public PipeTransport {
 public:
  /// Largest read per readiness event (Python: max_size).
  static constexpr std::size_t max_size = 256 * 1024;

  /// Python: _UnixReadPipeTransport.is_reading().
  bool is_reading() const noexcept override { return !paused_ && !closing_; }
  /// Stops reading until resume_reading() (the kernel pipe buffer then fills up and the
  /// writer blocks: back-pressure). No-op if already paused or closing.
  /// Python: _UnixReadPipeTransport.pause_reading().
  void pause_reading() override;
  void resume_reading() override;
  /// Stops reading; connection_lost(nullptr) follows. Idempotent.
  /// Python: _UnixReadPipeTransport.close().
  void close() override;
  /// Same as close() for a read pipe.
  /// C++ only (Python's read pipe transport has no abort()).
  void abort() override { close(); }

  /// Not a write transport: write() throws RuntimeError; the rest is inert.
  /// C++ only (Python's read pipe transport has no write()).
  using Transport::write;
  void write(std::span<const std::byte> data) override;
  /// C++ only (Python's read pipe transport has no write_eof()).
  void write_eof() override {}
  bool can_write_eof() const noexcept override { return false; }
  /// C++ only (Python's read pipe transport has no write buffer).
  std::size_t get_write_buffer_size() const noexcept override { return 0; }
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept override {
    return {0, 0};
  }
  void set_write_buffer_limits(std::optional<std::size_t>, std::optional<std::size_t>) override {}

 private:
  friend struct detail::PipeAccess;
  ReadPipeTransport(EventLoop& loop, int fd, Protocol* protocol,
                    std::shared_ptr<BaseProtocol> owner)
      : PipeTransport(loop, fd, protocol, std::move(owner)) {}
  void on_io(bool readable, bool writable) noexcept override;
  void close_with(std::exception_ptr exc);

  bool paused_ = false;
};

/// Writes to a pipe with buffering and flow control (Python: _UnixWritePipeTransport).
class WritePipeTransport final : public PipeTransport {
 public:
  using Transport::write;
  /// Writes at once what the pipe accepts and buffers the rest. Ignored once closing or after
  /// the pipe broke (as Python, which only logs after a few such writes).
  void write(std::span<const std::byte> data) override;
  bool can_write_eof() const noexcept override { return true; }
  /// Closes the pipe once the buffer is flushed (the reader then sees EOF).
  /// Python: _UnixWritePipeTransport.write_eof().
  void write_eof() override;
  /// Same as write_eof() (Python: close() of a write pipe flushes first).
  void close() override;
  /// Closes at once, dropping the buffer.
  /// Python: _UnixWritePipeTransport.abort().
  void abort() override;
  /// Python: _UnixWritePipeTransport.get_write_buffer_size().
  std::size_t get_write_buffer_size() const noexcept override {
    return buffer_.size() - buffer_offset_;
  }
  /// {low, high} water marks (as Transport::get_write_buffer_limits).
  /// Python: _UnixWritePipeTransport.get_write_buffer_limits().
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept override {
    return {low_water_, high_water_};
  }
  /// Python's defaults: high = 64 KiB (or 4 * low), low = high / 4. Throws ValueError unless
  /// high >= low.
  void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                               std::optional<std::size_t> low = std::nullopt) override;

  /// Not a read transport: never reads.
  /// C++ only (Python's write pipe transport has no is_reading()).
  bool is_reading() const noexcept override { return false; }
  /// C++ only (Python's write pipe transport has no pause_reading()).
  void pause_reading() override {}
  void resume_reading() override {}

 private:
  friend struct detail::PipeAccess;
  WritePipeTransport(EventLoop& loop, int fd, Protocol* protocol,
                     std::shared_ptr<BaseProtocol> owner)
      : PipeTransport(loop, fd, protocol, std::move(owner)) {}
  void on_io(bool readable, bool writable) noexcept override;
  void write_ready() noexcept;
  void fatal_error(int err, const char* message) noexcept;
  void close_with(std::exception_ptr exc);
  void maybe_pause_protocol() noexcept;
  void maybe_resume_protocol() noexcept;

  std::string buffer_;
  std::size_t buffer_offset_ = 0;  // bytes of buffer_ already written
  int conn_lost_ = 0;
  bool protocol_paused_ = false;
  std::size_t high_water_ = 64 * 1024;
  std::size_t low_water_ = 16 * 1024;
};

namespace detail {

/// Creates pipe transports (also used by the subprocess transport). The transport takes
/// ownership of `fd` (made non-blocking); it starts watching the fd at start().
struct PipeAccess {
  /// Throws ValueError if `fd` is not a pipe, socket or character device (Python's check);
  /// `fd` is NOT closed then. `owner` keeps `protocol` alive (may be null).
  static std::shared_ptr<ReadPipeTransport> make_read(EventLoop& loop, int fd, Protocol* protocol,
                                                      std::shared_ptr<BaseProtocol> owner);
  static std::shared_ptr<WritePipeTransport> make_write(EventLoop& loop, int fd, Protocol* protocol,
                                                        std::shared_ptr<BaseProtocol> owner);
  /// Starts reading (read pipes) or watching for the reader's disappearance (write pipes).
  static void start(PipeTransport& transport);
  /// Forgets the protocol without telling it (its owner is going away).
  static void clear_protocol(PipeTransport& transport) noexcept {
    transport.protocol_ = nullptr;
    transport.protocol_owner_.reset();
  }

  template <class P, class Make>
  static Coro<std::pair<std::shared_ptr<PipeTransport>, std::shared_ptr<P>>> connect(
      std::shared_ptr<P> protocol, int fd, Make make) {
    static_assert(std::is_base_of_v<Protocol, P>,
                  "a pipe protocol must derive from asyncio::Protocol");
    EventLoop& loop = get_running_loop();
    std::shared_ptr<PipeTransport> transport = make(loop, fd, protocol.get(), protocol);
    try {
      protocol->connection_made(*transport);
    } catch (...) {
      loop.call_exception_handler(
          {"Exception in callback Protocol.connection_made", std::current_exception(), {}});
    }
    start(*transport);
    co_return std::pair{std::move(transport), std::move(protocol)};
  }
};

}  // namespace detail

/// Wraps the read end of a pipe (or a socket or character device) in a transport (Python:
/// loop.connect_read_pipe). The transport owns `fd` from now on and closes it after
/// connection_lost(). `factory()` returns std::shared_ptr<P>, P an asyncio::Protocol; its
/// connection_made() has run when the coroutine returns. data_received() gets the data as it
/// arrives, then eof_received() and connection_lost(nullptr) at EOF.
template <class Factory>
auto connect_read_pipe(Factory factory, int fd)
    -> Coro<std::pair<std::shared_ptr<ReadPipeTransport>, std::invoke_result_t<Factory&>>> {
  auto [transport, protocol] = co_await detail::PipeAccess::connect(
      factory(), fd, [](EventLoop& loop, int f, Protocol* p, std::shared_ptr<BaseProtocol> o) {
        return std::shared_ptr<PipeTransport>(
            detail::PipeAccess::make_read(loop, f, p, std::move(o)));
      });
  co_return std::pair{std::static_pointer_cast<ReadPipeTransport>(std::move(transport)),
                      std::move(protocol)};
}

/// Wraps the write end of a pipe in a transport (Python: loop.connect_write_pipe). The
/// protocol gets pause_writing()/resume_writing() for flow control and connection_lost()
/// when the transport is closed or the reader goes away (BrokenPipeError if data was
/// still buffered).
template <class Factory>
auto connect_write_pipe(Factory factory, int fd)
    -> Coro<std::pair<std::shared_ptr<WritePipeTransport>, std::invoke_result_t<Factory&>>> {
  auto [transport, protocol] = co_await detail::PipeAccess::connect(
      factory(), fd, [](EventLoop& loop, int f, Protocol* p, std::shared_ptr<BaseProtocol> o) {
        return std::shared_ptr<PipeTransport>(
            detail::PipeAccess::make_write(loop, f, p, std::move(o)));
      });
  co_return std::pair{std::static_pointer_cast<WritePipeTransport>(std::move(transport)),
                      std::move(protocol)};
}

}  // namespace asyncio
