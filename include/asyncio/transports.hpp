// asyncio/transports.hpp — transport interfaces (Python: asyncio.transports).
//
// A transport owns a connection's socket and moves bytes for its protocol. Transports are
// created by create_connection()/create_server()/create_datagram_endpoint()/start_tls() and
// are shared objects: the loop keeps an open transport alive by itself (you may drop every
// std::shared_ptr to it and it keeps serving its protocol), until connection_lost() has been
// called; after that it lives as long as someone holds a shared_ptr, with every operation a
// harmless no-op (is_closing() is true). All methods must be called on the loop's thread.
//
// Python's ReadTransport/WriteTransport are folded into Transport (every stream transport
// here is bidirectional); pipes are out of scope.
#pragma once

#include <any>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "asyncio/protocols.hpp"
#include "asyncio/sockets.hpp"

namespace asyncio {

/// Python: asyncio.BaseTransport.
class BaseTransport : public std::enable_shared_from_this<BaseTransport> {
 public:
  BaseTransport() = default;
  BaseTransport(const BaseTransport&) = delete;
  BaseTransport& operator=(const BaseTransport&) = delete;
  virtual ~BaseTransport() = default;

  /// Optional information (Python: get_extra_info(name, default)). Empty std::any when
  /// unknown. Names and types:
  ///   "peername", "sockname"  SockAddr
  ///   "socket"                TransportSocket (a non-owning view of the fd)
  ///   "sslcontext"            std::shared_ptr<SSLContext>   (TLS transports)
  ///   "ssl_object"            SSL*  (OpenSSL's object; valid while the transport is open)
  ///   "peercert"              PeerCertificate
  ///   "cipher"                std::string (e.g. "TLS_AES_256_GCM_SHA384")
  ///   "version"               std::string (e.g. "TLSv1.3")
  virtual std::any get_extra_info(std::string_view name) const = 0;
  /// get_extra_info() cast to T, or nullopt when absent or of another type.
  /// Python: BaseTransport.get_extra_info(), typed.
  template <class T>
  std::optional<T> extra(std::string_view name) const {
    std::any v = get_extra_info(name);
    if (const T* p = std::any_cast<T>(&v)) return *p;
    return std::nullopt;
  }

  /// Whether close()/abort() was called or the connection was lost.
  /// Python: BaseTransport.is_closing().
  virtual bool is_closing() const noexcept = 0;
  /// Closes after flushing buffered data; the protocol's connection_lost(nullptr) follows
  /// (asynchronously). Idempotent.
  /// Python: BaseTransport.close().
  virtual void close() = 0;

  /// Replaces the protocol (Python: set_protocol). Must be of the transport's kind
  /// (Protocol for stream transports, DatagramProtocol for datagram ones), else ValueError.
  virtual void set_protocol(std::shared_ptr<BaseProtocol> protocol) = 0;
  /// The protocol; null once connection_lost() has returned.
  /// Python: BaseTransport.get_protocol().
  virtual std::shared_ptr<BaseProtocol> get_protocol() const = 0;
};

/// A bidirectional stream transport (Python: asyncio.Transport).
class Transport : public BaseTransport {
 public:
  // ---- Reading ---------------------------------------------------------------------------

  /// Whether data_received() calls may happen (not paused, not closing).
  /// Python: ReadTransport.is_reading().
  virtual bool is_reading() const noexcept = 0;
  /// Stops calling data_received() until resume_reading(). Idempotent.
  /// Python: ReadTransport.pause_reading().
  virtual void pause_reading() = 0;
  /// Resumes data_received() calls after pause_reading(). Idempotent (Python:
  /// ReadTransport.resume_reading()).
  virtual void resume_reading() = 0;

  // ---- Writing ---------------------------------------------------------------------------

  /// Sends `data` without blocking: what the socket does not take at once is copied into
  /// the write buffer and sent when the socket is writable. Throws RuntimeError after
  /// write_eof(). Writing to a closed or lost connection is silently ignored (Python logs
  /// a warning after several such writes).
  virtual void write(std::span<const std::byte> data) = 0;
  /// write() of the bytes of `data` (Python: WriteTransport.write()).
  void write(std::string_view data) {
    write(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data.data()), data.size()));
  }
  /// Writes several buffers in one system call when possible (scatter/gather).
  /// Python: WriteTransport.writelines().
  virtual void writelines(std::span<const std::span<const std::byte>> chunks);
  /// Writes the chunks in order (Python: WriteTransport.writelines()).
  void writelines(std::initializer_list<std::string_view> chunks);
  /// Writes each element of `chunks` in order (Python: WriteTransport.writelines()).
  template <class Range>
  requires requires(const Range& r) { std::string_view(*std::begin(r)); }
  void writelines(const Range& chunks) {
    std::vector<std::span<const std::byte>> spans;
    for (const auto& c : chunks) {
      std::string_view s(c);
      spans.emplace_back(reinterpret_cast<const std::byte*>(s.data()), s.size());
    }
    writelines(std::span<const std::span<const std::byte>>(spans));
  }

  /// Closes the write side after the buffer is flushed (TCP: shutdown(SHUT_WR)).
  /// Python: WriteTransport.write_eof().
  virtual void write_eof() = 0;
  /// Whether write_eof() is supported (Python: WriteTransport.can_write_eof()).
  virtual bool can_write_eof() const noexcept = 0;
  /// Closes at once, discarding buffered data; connection_lost(nullptr) follows.
  /// Python: WriteTransport.abort().
  virtual void abort() = 0;

  /// Bytes buffered and not yet sent.
  /// Python: WriteTransport.get_write_buffer_size().
  virtual std::size_t get_write_buffer_size() const noexcept = 0;
  /// {low, high} (Python: get_write_buffer_limits()).
  virtual std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept = 0;
  /// Sets the flow-control water marks (Python: set_write_buffer_limits(high, low)):
  /// pause_writing() when the buffer grows above `high`, resume_writing() when it drains to
  /// `low`. Defaults as Python: high 64 KiB; low = high / 4; high = 4 * low when only low is
  /// given. Throws ValueError unless high >= low >= 0.
  virtual void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                                       std::optional<std::size_t> low = std::nullopt) = 0;
};

/// A datagram transport (Python: asyncio.DatagramTransport).
class DatagramTransport : public BaseTransport {
 public:
  /// Sends one datagram to `addr` (or to the connected peer when `addr` is empty). Like
  /// write(), buffers when the socket is full; errors go to the protocol's error_received().
  /// Python: DatagramTransport.sendto().
  virtual void sendto(std::span<const std::byte> data, const SockAddr& addr = {}) = 0;
  /// sendto() of the bytes of `data` (Python: DatagramTransport.sendto()).
  void sendto(std::string_view data, const SockAddr& addr = {}) {
    sendto(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data.data()), data.size()),
           addr);
  }
  /// Closes at once, dropping buffered datagrams (Python: DatagramTransport.abort()).
  virtual void abort() = 0;
  /// Bytes of datagrams buffered and not yet sent (Python: get_write_buffer_size()).
  virtual std::size_t get_write_buffer_size() const noexcept = 0;
};

}  // namespace asyncio
