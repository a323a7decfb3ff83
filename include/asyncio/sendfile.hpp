// asyncio/sendfile.hpp — sending a file over a socket or a transport (Python:
// loop.sock_sendfile, loop.sendfile, asyncio.SendfileNotAvailableError).
//
//   int file = ::open("big.bin", O_RDONLY | O_CLOEXEC);
//   std::size_t sent = co_await asyncio::sock_sendfile(sock.fd(), file);     // whole file
//   co_await asyncio::sendfile(writer.transport(), file, 100, 4096);          // a slice
//
// The file is an open fd of a regular file ("file objects" in Python). Natively sendfile(2)
// copies in the kernel from the page cache to the socket, without going through user space;
// when that is not possible (TLS, a file sendfile(2) cannot read, ...) the data is read on
// the default executor and sent with ordinary writes (Python's fallback), unless
// `fallback` is false.
//
// The file position, as Python: on return (and on error or cancellation) it is just past the
// bytes sent, `offset + sent`, when something was sent; untouched otherwise. Like Python's
// fallback, which reads with file.readinto after `if offset: file.seek(offset)`, the fallback
// path reads from the file's current position when `offset` is 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "asyncio/coroutines.hpp"
#include "asyncio/exceptions.hpp"
#include "asyncio/transports.hpp"

namespace asyncio {

/// sendfile(2) cannot be used for this socket and file (Python:
/// asyncio.SendfileNotAvailableError, a RuntimeError). Thrown only with fallback=false.
class SendfileNotAvailableError : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
};

/// Sends `count` bytes (all, to EOF, when nullopt) of the open file `file` from `offset`
/// over the connected, non-blocking stream socket `sock`; returns the bytes sent (Python:
/// loop.sock_sendfile(sock, file, offset=0, count=None, *, fallback=True)).
///
/// Python's checks, in order: ValueError("only SOCK_STREAM type sockets are supported"),
/// ValueError("count must be a positive integer (got 0)"), ValueError("offset must be a
/// non-negative integer (got -1)"). Natively: SendfileNotAvailableError("not a regular file")
/// when fstat() fails, "os.sendfile call failed" when the first sendfile(2) call fails (then
/// the fallback runs unless `fallback` is false); an error after some bytes went out is the
/// OSError (ENOTCONN: ConnectionError). An empty file (st_size 0, e.g. a pipe) with no count
/// sends nothing and returns 0, as Python. Cancellable; the file position then reflects what
/// was sent.
Coro<std::size_t> sock_sendfile(int sock, int file, std::int64_t offset = 0,
                                std::optional<std::int64_t> count = std::nullopt,
                                bool fallback = true);

/// Sends the file over `transport` (Python: loop.sendfile(transport, file, offset=0,
/// count=None, *, fallback=True)); returns the bytes sent. RuntimeError("Transport is
/// closing") first. A plain TCP/Unix socket transport uses sendfile(2) after its write buffer
/// has drained, with reading paused meanwhile (resumed after); while it runs, write() on the
/// transport throws RuntimeError("unable to write; sendfile is in progress"). TLS (and any
/// other) transports use the fallback: the data is written through the transport with its
/// flow control, the protocol being set aside meanwhile (Python's _SendfileFallbackProtocol);
/// with fallback=false they throw RuntimeError("fallback is disabled and native sendfile is
/// not supported for transport <...>"). As Python, only the native path checks offset and
/// count (the fallback treats count 0 as "to EOF").
Coro<std::size_t> sendfile(std::shared_ptr<Transport> transport, int file, std::int64_t offset = 0,
                           std::optional<std::int64_t> count = std::nullopt, bool fallback = true);

}  // namespace asyncio
