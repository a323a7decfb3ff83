// asyncio/protocols.hpp — protocol interfaces (Python: asyncio.protocols).
//
// A protocol receives a transport's events through virtual callbacks, all called on the loop's
// thread, never re-entrantly from inside a transport method (Python's call_soon discipline):
//
//   connection_made(transport)  once, first.
//   data_received(data)         any number of times (stream protocols).
//   eof_received()              at most once, when the peer shut down its writing side.
//   pause_writing()/resume_writing()  when the transport's write buffer crosses its high/low
//                               water marks (default 64 KiB / 16 KiB): flow control.
//   connection_lost(exc)        once, last; `exc` is null on a normal close.
//
// Ownership: protocols are shared objects (std::shared_ptr). A transport holds its protocol
// from construction until connection_lost() has returned, then drops it; a protocol normally
// keeps the `Transport&` it is given in connection_made(), which stays valid until
// connection_lost() returns (to keep the transport longer, hold the shared_ptr from
// Transport::shared_from_this()). A callback that throws is a fatal error for the connection
// (Python: "Fatal error: protocol.data_received() call failed."): the transport is aborted and
// the error is reported to the loop's exception handler.
#pragma once

#include <cstddef>
#include <exception>
#include <span>
#include <string_view>

namespace asyncio {

class BaseTransport;
class Transport;
class DatagramTransport;
class SockAddr;
class BufferedProtocol;

/// Python: asyncio.BaseProtocol.
class BaseProtocol {
 public:
  virtual ~BaseProtocol() = default;

  /// The connection is closed; `exc` is null for a normal close or EOF, else the error.
  /// Python: BaseProtocol.connection_lost().
  virtual void connection_lost(std::exception_ptr exc) { (void)exc; }
  /// The transport's write buffer went over the high water mark: stop writing.
  /// Python: BaseProtocol.pause_writing().
  virtual void pause_writing() {}
  /// The buffer drained to the low water mark: writing may resume.
  /// Python: BaseProtocol.resume_writing().
  virtual void resume_writing() {}
};

/// A stream protocol (Python: asyncio.Protocol), for TCP, Unix sockets and TLS.
class Protocol : public BaseProtocol {
 public:
  /// The connection is up. `transport` stays valid until connection_lost() returns.
  /// Python: Protocol.connection_made().
  virtual void connection_made(Transport& transport) { (void)transport; }
  /// Bytes arrived. `data` points into the transport's shared read buffer: it is valid only
  /// until this call returns (copy what you keep). Never empty.
  /// Python: Protocol.data_received().
  virtual void data_received(std::span<const std::byte> data) { (void)data; }
  /// The peer will send no more. Return false (the default) to let the transport close
  /// itself; true to keep it open for writing (half-close) — you then close it yourself.
  /// TLS transports ignore the return value and always close.
  /// Python: Protocol.eof_received().
  virtual bool eof_received() { return false; }

  /// Not for users: the transport asks once whether this is a BufferedProtocol.
  /// C++ only (Python tests isinstance(protocol, BufferedProtocol)).
  virtual BufferedProtocol* as_buffered() noexcept { return nullptr; }

  /// Convenience view of `data` as characters.
  /// C++ only (no Python counterpart).
  static std::string_view as_chars(std::span<const std::byte> data) noexcept {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
  }
};

/// A stream protocol that owns its receive buffer (Python: asyncio.BufferedProtocol): the
/// transport reads straight into the span returned by get_buffer(), then calls
/// buffer_updated(nbytes). Saves a copy for protocols that accumulate data.
///
/// (Python's BufferedProtocol is not a Protocol subclass; here it derives from Protocol so
/// that every stream transport can hold either kind. data_received() is final: it copies into
/// get_buffer() for transports that produce data in their own buffers, like TLS.)
class BufferedProtocol : public Protocol {
 public:
  /// A buffer to receive into; `sizehint` is the recommended minimum size, or -1 for any.
  /// Must be non-empty. Valid until buffer_updated() is called.
  /// Python: BufferedProtocol.get_buffer().
  virtual std::span<std::byte> get_buffer(std::ptrdiff_t sizehint) = 0;
  /// `nbytes` bytes were written at the start of the last get_buffer() span.
  /// Python: BufferedProtocol.buffer_updated().
  virtual void buffer_updated(std::size_t nbytes) = 0;

  /// C++ only (Python's BufferedProtocol has no data_received()).
  void data_received(std::span<const std::byte> data) final;
  /// C++ only (Python tests isinstance(protocol, BufferedProtocol)).
  BufferedProtocol* as_buffered() noexcept final { return this; }
};

/// A datagram protocol (Python: asyncio.DatagramProtocol), for UDP and Unix datagram sockets.
class DatagramProtocol : public BaseProtocol {
 public:
  /// The endpoint is ready; `transport` sends datagrams (Python:
  /// DatagramProtocol.connection_made()).
  virtual void connection_made(DatagramTransport& transport) { (void)transport; }
  /// A datagram arrived from `addr`. `data` is valid only until this call returns.
  /// Python: DatagramProtocol.datagram_received().
  virtual void datagram_received(std::span<const std::byte> data, const SockAddr& addr) {
    (void)data;
    (void)addr;
  }
  /// A previous send or receive failed (e.g. ECONNREFUSED from an ICMP message). The
  /// transport stays open.
  /// Python: DatagramProtocol.error_received().
  virtual void error_received(std::exception_ptr exc) { (void)exc; }
};

}  // namespace asyncio
