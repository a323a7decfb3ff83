// asyncio/streams.hpp — the high-level stream API (Python: asyncio.streams).
//
//   auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", 8888);
//   writer.write("hello\n");
//   co_await writer.drain();
//   std::string line = co_await reader.readline();
//   writer.close();
//   co_await writer.wait_closed();
//
//   asyncio::Server server = co_await asyncio::start_server(
//       [](asyncio::StreamReader r, asyncio::StreamWriter w) -> asyncio::Coro<> {
//         while (true) {
//           std::string data = co_await r.read(4096);
//           if (data.empty()) break;
//           w.write(data);
//           co_await w.drain();
//         }
//       },
//       "127.0.0.1", 8888);
//
// StreamReader and StreamWriter are handles (copies share the stream), like Python objects.
// The read methods, drain() and wait_closed() are coroutines (Coro), so they compose with
// wait_for(), gather() and create_task() exactly as in Python; each keeps the stream alive
// while it runs, and waiting costs no allocation beyond the coroutine frame. The socket is
// received straight into the reader's buffer, which the reader keeps across reads; read()
// returns a copy of the bytes it takes (one allocation per call), readinto() copies them into
// the caller's memory (no allocation at all). At most one coroutine may wait on a reader
// at a time (RuntimeError otherwise, as Python). A cancelled read leaves the buffered data in
// place.
//
// Deliberate difference: when the last StreamWriter handle of a connection is dropped without
// close(), the transport is closed (Python 3.12 does this in StreamWriter.__del__, with a
// ResourceWarning, only for client streams).
#pragma once

#include <coroutine>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "asyncio/coroutines.hpp"
#include "asyncio/detail/future_base.hpp"
#include "asyncio/detail/intrusive_list.hpp"
#include "asyncio/net.hpp"
#include "asyncio/net_errors.hpp"
#include "asyncio/protocols.hpp"
#include "asyncio/transports.hpp"

namespace asyncio {

class SSLContext;
class StreamReader;
class StreamWriter;

/// Python: streams._DEFAULT_LIMIT (64 KiB): the line length limit and half the buffer limit.
inline constexpr std::size_t kDefaultStreamLimit = 64 * 1024;

namespace detail {

class StreamReaderImpl;
class StreamReaderProtocol;
class StreamWriterImpl;

/// Awaiter of StreamWriter::drain().
class DrainAwaiter final : public ListNode, public Suspension {
 public:
  explicit DrainAwaiter(std::shared_ptr<StreamWriterImpl> writer) noexcept
      : writer_(std::move(writer)) {}
  DrainAwaiter(const DrainAwaiter&) = delete;
  DrainAwaiter& operator=(const DrainAwaiter&) = delete;
  ~DrainAwaiter() { unlink(); }

  bool await_ready();
  void await_suspend(std::coroutine_handle<> h);
  void await_resume();
  bool cancel_awaited(const std::string& message) override;

  /// Woken by resume_writing() (exc null) or connection_lost(exc).
  void wake(std::exception_ptr exc) noexcept;

 private:
  enum class State : std::uint8_t { Idle, Yielding, Waiting, Woken, Cancelled };
  static void on_yield(void* self, bool discard);
  bool helper_ready();

  std::shared_ptr<StreamWriterImpl> writer_;
  std::exception_ptr error_;
  State state_ = State::Idle;
  TaskBase* task_ = nullptr;
  std::string cancel_message_;
};

/// Awaiter of StreamWriter::wait_closed().
class CloseWaiter final : public ListNode, public Suspension {
 public:
  explicit CloseWaiter(std::shared_ptr<StreamReaderProtocol> protocol) noexcept
      : protocol_(std::move(protocol)) {}
  CloseWaiter(const CloseWaiter&) = delete;
  CloseWaiter& operator=(const CloseWaiter&) = delete;
  ~CloseWaiter() { unlink(); }

  bool await_ready() const noexcept;
  void await_suspend(std::coroutine_handle<> h);
  void await_resume();
  bool cancel_awaited(const std::string& message) override;
  void wake() noexcept;

 private:
  std::shared_ptr<StreamReaderProtocol> protocol_;
  TaskBase* task_ = nullptr;
  bool cancelled_ = false;
  std::string cancel_message_;
};

}  // namespace detail

/// Buffered reading from a stream (Python: asyncio.StreamReader). A handle.
class StreamReader {
 public:
  /// A reader not attached to any transport yet; feed it with feed_data()/feed_eof().
  /// Throws ValueError if `limit` is 0.
  explicit StreamReader(std::size_t limit = kDefaultStreamLimit);
  /// Internal: another handle to `impl`.
  explicit StreamReader(std::shared_ptr<detail::StreamReaderImpl> impl) noexcept
      : impl_(std::move(impl)) {}

  /// Up to `n` bytes, as soon as at least one is available; "" at EOF. `n < 0` reads until
  /// EOF; `n == 0` returns "" at once. Not limited by the limit.
  /// Python: StreamReader.read().
  Coro<std::string> read(std::ptrdiff_t n = -1);
  /// Up to `buffer.size()` bytes copied into `buffer`, as soon as at least one is available;
  /// returns how many, 0 at EOF (and at once for an empty `buffer`). read(n) without the
  /// returned string: nothing is allocated. While it waits on an empty buffer, the socket is
  /// received straight into `buffer` (no copy). `buffer` must stay valid until the call
  /// completes; a cancelled call leaves the data buffered. Errors as read().
  /// C++ only (Python's StreamReader has no readinto(); the model is loop.sock_recv_into() and
  /// BufferedProtocol).
  Coro<std::size_t> readinto(std::span<std::byte> buffer);
  /// readinto() into characters (e.g. a std::string or std::vector<char> sized beforehand).
  /// C++ only (see the std::byte form).
  Coro<std::size_t> readinto(std::span<char> buffer);
  /// A line ending with '\n'; at EOF the partial last line without it ("" when none).
  /// Throws ValueError if the line exceeds the limit (the data up to and including the
  /// separator, or the whole buffer, is dropped), as Python.
  Coro<std::string> readline();
  /// Data up to and including `separator`. Throws IncompleteReadError(partial, nullopt) at EOF
  /// (the buffer is cleared) and LimitOverrunError if the limit is exceeded (data kept).
  /// Python: StreamReader.readuntil().
  Coro<std::string> readuntil(std::string_view separator = "\n");
  /// Data up to and including the first of several separators: the shortest chunk that ends
  /// with any of them (on a tie, the shortest separator), as Python 3.13's
  /// `readuntil((b"\r\n", b"\n"))`; written `reader.readuntil("\r\n", "\n")`. For
  /// LimitOverrunError the shortest separator counts as the one that matched. Throws
  /// ValueError("Separator should contain at least one element") for an empty list, and as
  /// readuntil(sep) for an empty separator.
  /// Python 3.13: StreamReader.readuntil(tuple).
  Coro<std::string> readuntil(std::span<const std::string_view> separators);
  /// readuntil() with two or more separators given as arguments (see the span form).
  /// Python 3.13: StreamReader.readuntil(tuple).
  template <class... More>
  requires(std::is_convertible_v<const More&, std::string_view>&&...) Coro<std::string> readuntil(
      std::string_view first, std::string_view second, const More&... more) {
    // Not a braced list at the call site: GCC 12 rejects an initializer_list inside a
    // co_await expression ("array used as initializer").
    const std::string_view separators[] = {first, second, std::string_view(more)...};
    return readuntil(std::span<const std::string_view>(separators));
  }
  /// Exactly `n` bytes, or IncompleteReadError(partial, n) at EOF. Throws
  /// ValueError("readexactly size can not be less than zero") if `n < 0`, as Python.
  /// Python: StreamReader.readexactly().
  Coro<std::string> readexactly(std::ptrdiff_t n);
  /// The `async for` step: the next line (as readline()), or std::nullopt at EOF.
  /// Python: `async for line in reader` (StreamReader.__anext__, StopAsyncIteration as
  /// nullopt). `while (auto line = co_await reader.next()) use(*line);`
  Coro<std::optional<std::string>> next();
  /// The next line; throws StopAsyncIteration at EOF (Python: `await anext(reader)`).
  Coro<std::string> anext();

  /// Whether EOF was fed and the buffer is empty.
  /// Python: StreamReader.at_eof().
  bool at_eof() const noexcept;
  /// The error a read will throw (set when the connection failed), or null.
  /// Python: StreamReader.exception().
  std::exception_ptr exception() const noexcept;
  /// Makes pending and later reads throw `exc` (Python: StreamReader.set_exception()).
  void set_exception(std::exception_ptr exc);
  /// Appends `data` to the buffer and wakes a waiting read (Python:
  /// StreamReader.feed_data()).
  void feed_data(std::span<const std::byte> data);
  /// Appends `data` to the buffer and wakes a waiting read (Python:
  /// StreamReader.feed_data()).
  void feed_data(std::string_view data);
  /// Marks the end of the stream (Python: StreamReader.feed_eof()).
  void feed_eof();
  /// Bytes buffered and not read yet.
  /// Python: len(StreamReader._buffer).
  std::size_t buffered_size() const noexcept;
  /// The buffer limit for readline()/readuntil() (Python: StreamReader._limit).
  std::size_t limit() const noexcept;

  /// Internal: the shared state.
  /// C++ only (no Python counterpart).
  const std::shared_ptr<detail::StreamReaderImpl>& impl() const noexcept { return impl_; }

 private:
  std::shared_ptr<detail::StreamReaderImpl> impl_;
};

/// Writing to a stream (Python: asyncio.StreamWriter). A handle.
class StreamWriter {
 public:
  StreamWriter() noexcept = default;
  /// Internal: another handle to `impl`.
  explicit StreamWriter(std::shared_ptr<detail::StreamWriterImpl> impl) noexcept
      : impl_(std::move(impl)) {}

  /// Queues `data` (sends at once what the socket takes). Follow with drain().
  /// Python: StreamWriter.write().
  void write(std::span<const std::byte> data);
  /// Queues `data` (Python: StreamWriter.write()). Follow with drain().
  void write(std::string_view data);
  /// Queues the chunks in order (Python: StreamWriter.writelines()).
  void writelines(std::initializer_list<std::string_view> chunks);
  /// Queues each element of `chunks` in order (Python: StreamWriter.writelines()).
  template <class Range>
  requires requires(const Range& r) { std::string_view(*std::begin(r)); }
  void writelines(const Range& chunks) { transport()->writelines(chunks); }
  /// Closes the write end after the buffered data (Python: StreamWriter.write_eof()).
  void write_eof();
  /// Whether write_eof() is supported (false for TLS; Python: can_write_eof()).
  bool can_write_eof() const;
  /// Closes the stream (flushes first). Follow with wait_closed().
  /// Python: StreamWriter.close().
  void close();
  /// Whether close() was called or the connection is closing (Python:
  /// StreamWriter.is_closing()).
  bool is_closing() const;
  /// Waits until the connection is closed; throws the error it was lost with, if any.
  /// Python: StreamWriter.wait_closed().
  Coro<void> wait_closed();
  /// Waits until the write buffer is below the low water mark (flow control). Throws the
  /// reader's error, or ConnectionResetError("Connection lost") once the connection is gone.
  /// Python: StreamWriter.drain().
  Coro<void> drain();
  /// The transport's information `name` ("peername", "sockname", "socket", "sslcontext",
  /// ...), empty when unknown (Python: StreamWriter.get_extra_info()).
  std::any get_extra_info(std::string_view name) const;
  /// get_extra_info(name) as a T, or nullopt when absent or of another type.
  /// Python: StreamWriter.get_extra_info(), typed.
  template <class T>
  std::optional<T> extra(std::string_view name) const {
    return transport()->template extra<T>(name);
  }
  /// Upgrades the connection to TLS (Python: StreamWriter.start_tls). Server-side when the
  /// stream came from start_server().
  Coro<void> start_tls(std::shared_ptr<SSLContext> sslcontext,
                       std::optional<std::string> server_hostname = std::nullopt,
                       std::optional<Duration> ssl_handshake_timeout = std::nullopt,
                       std::optional<Duration> ssl_shutdown_timeout = std::nullopt);
  /// The underlying transport (Python: writer.transport).
  const std::shared_ptr<Transport>& transport() const;

  /// Whether this handle refers to a stream.
  explicit operator bool() const noexcept { return static_cast<bool>(impl_); }
  /// Internal: the shared state.
  /// C++ only (no Python counterpart).
  const std::shared_ptr<detail::StreamWriterImpl>& impl() const noexcept { return impl_; }

 private:
  std::shared_ptr<detail::StreamWriterImpl> impl_;
};

/// The coroutine start_server() runs for each client (Python: client_connected_cb).
using ClientConnectedCallback = std::function<Coro<void>(StreamReader, StreamWriter)>;

namespace detail {
Coro<std::pair<StreamReader, StreamWriter>> open_connection(std::string host, std::uint16_t port,
                                                            OwnedConnectionOptions opts,
                                                            std::size_t limit);
Coro<std::pair<StreamReader, StreamWriter>> open_unix_connection(std::string path, TlsParams opts,
                                                                 std::size_t limit);
/// The protocol factory of start_server()/start_unix_server(): a StreamReaderProtocol per
/// connection that runs `cb`. Throws ValueError for a null `cb` or a zero limit.
ProtocolFactory stream_factory(ClientConnectedCallback cb, std::size_t limit);
}  // namespace detail

/// Python: asyncio.open_connection(host, port, limit=..., **kwds).
Coro<std::pair<StreamReader, StreamWriter>> open_connection(
    std::string host, std::uint16_t port, ConnectionOptions opts = {},
    std::size_t limit = kDefaultStreamLimit);
/// Python: asyncio.start_server(client_connected_cb, host, port, limit=..., **kwds). Each
/// connection runs `client_connected_cb(reader, writer)` as a task; an exception escaping it
/// is reported to the loop's exception handler and closes the connection.
Coro<Server> start_server(ClientConnectedCallback client_connected_cb, std::string host,
                          std::uint16_t port, ServerOptions opts = {},
                          std::size_t limit = kDefaultStreamLimit);
/// Python: asyncio.open_unix_connection(path, limit=..., **kwds).
Coro<std::pair<StreamReader, StreamWriter>> open_unix_connection(
    std::string path, UnixConnectionOptions opts = {}, std::size_t limit = kDefaultStreamLimit);
/// Python: asyncio.start_unix_server(client_connected_cb, path, limit=..., **kwds).
Coro<Server> start_unix_server(ClientConnectedCallback client_connected_cb, std::string path,
                               UnixServerOptions opts = {},
                               std::size_t limit = kDefaultStreamLimit);

/// Python: asyncio.open_connection(sock=sock, limit=..., **kwds): streams over an already
/// connected stream socket (e.g. one end of socketpair()). Errors as create_connection(sock).
Coro<std::pair<StreamReader, StreamWriter>> open_connection(
    Socket sock, ConnectionOptions opts = {}, std::size_t limit = kDefaultStreamLimit);
/// Python: asyncio.start_server(client_connected_cb, sock=sock, ...): serves on an existing
/// bound (or listening) stream socket. Errors as create_server(sock).
Coro<Server> start_server(ClientConnectedCallback client_connected_cb, Socket sock,
                          ServerOptions opts = {}, std::size_t limit = kDefaultStreamLimit);
/// Python: asyncio.open_unix_connection(sock=sock, ...): streams over a connected AF_UNIX
/// stream socket. Errors as create_unix_connection(sock).
Coro<std::pair<StreamReader, StreamWriter>> open_unix_connection(
    Socket sock, UnixConnectionOptions opts = {}, std::size_t limit = kDefaultStreamLimit);
/// Python: asyncio.start_unix_server(client_connected_cb, sock=sock, ...). Errors as
/// create_unix_server(sock).
Coro<Server> start_unix_server(ClientConnectedCallback client_connected_cb, Socket sock,
                               UnixServerOptions opts = {},
                               std::size_t limit = kDefaultStreamLimit);

/// Python: asyncio.StreamReaderProtocol, for building streams over custom transports:
/// make_stream_reader_protocol(reader) is a Protocol that feeds `reader`.
std::shared_ptr<Protocol> make_stream_reader_protocol(StreamReader reader);
/// A StreamWriter over `transport` whose protocol came from make_stream_reader_protocol().
/// Python: StreamWriter(transport, protocol, reader, loop).
StreamWriter make_stream_writer(std::shared_ptr<Transport> transport,
                                std::shared_ptr<Protocol> protocol,
                                std::optional<StreamReader> reader);

}  // namespace asyncio
