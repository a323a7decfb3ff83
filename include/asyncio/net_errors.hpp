// asyncio/net_errors.hpp — the exceptions of the networking layer (Python: the OSError
// hierarchy of builtins, socket.gaierror, ssl.SSLError, asyncio.IncompleteReadError and
// asyncio.LimitOverrunError).
//
// Every socket error is a std::system_error carrying the errno (`e.code().value()`, or compare
// `e.code() == std::errc::connection_refused`), thrown as the most specific type below, as
// Python raises the most specific OSError subclass. what() is Python's str(exc) for the same
// constructor form: "[Errno 104] Connection reset by peer" for OSError(errno, strerror),
// "[Errno 2] No such file or directory: 'prog'" with a filename, and the message alone for
// OSError(message) (then there is no errno: code() is 0, as Python's errno is None):
//
//   std::system_error
//   └── OSError                      any failed system call (EADDRINUSE, EHOSTUNREACH, ...)
//       ├── ConnectionError
//       │   ├── BrokenPipeError       EPIPE, ESHUTDOWN (writing to a closed connection)
//       │   ├── ConnectionAbortedError ECONNABORTED (also: TLS handshake timeout)
//       │   ├── ConnectionRefusedError ECONNREFUSED
//       │   └── ConnectionResetError  ECONNRESET (also: "Connection lost" from drain())
//       ├── FileNotFoundError         ENOENT (e.g. a Unix socket path that does not exist)
//       ├── gaierror                  getaddrinfo()/getnameinfo() failures (category: netdb)
//       └── SSLError                  TLS failures (category: ssl), see asyncio/ssl.hpp
//           └── SSLCertVerificationError
//
// Stream errors (asyncio.exceptions): IncompleteReadError (Python: an EOFError) and
// LimitOverrunError. Neither is an OSError.
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

namespace asyncio {

/// A failed system call (Python: OSError). `code()` holds the errno in std::generic_category.
class OSError : public std::system_error {
 public:
  /// Python: OSError(errno, strerror). what() is `[Errno <err>] <strerror>`; `strerror` is
  /// usually strerror(err) (make_os_error(err) passes it), or asyncio's own text (e.g.
  /// "Connect call failed ('127.0.0.1', 80)").
  OSError(int err, const std::string& strerror);
  /// Python: OSError(errno, strerror, filename). what() is Python's str() of it:
  /// "[Errno N] STRERROR: 'FILENAME'".
  OSError(int err, const std::string& strerror, const std::string& filename);
  /// Python: OSError(message). what() is `message`; there is no errno (code() is 0, as
  /// Python's `exc.errno` is None) and strerror() is empty.
  explicit OSError(const std::string& message);
  /// An error of another category (the subclasses use netdb_category() and ssl_category()):
  /// what() is `what` as given, strerror() is `strerror`.
  /// Python: OSError(errno, strerror) of socket.gaierror and ssl.SSLError.
  OSError(std::error_code ec, const std::string& strerror, const std::string& what);

  /// Python: str(exc).
  const char* what() const noexcept override;
  /// The errno (Python: `exc.errno`); 0 for the OSError(message) form.
  int error_number() const noexcept { return code().value(); }
  /// Python: `exc.strerror`; empty for the OSError(message) form.
  const std::string& strerror() const noexcept;
  /// Python: `exc.filename`; empty when none was given.
  const std::string& filename() const noexcept;
  /// Whether it was made by the OSError(message) form (Python: `exc.errno is None`).
  bool message_only() const noexcept;

 private:
  struct Text;
  std::shared_ptr<const Text> text_;  // shared: copying an exception must not throw
};

/// Python: ConnectionError, the base of the connection failures below.
class ConnectionError : public OSError {
 public:
  using OSError::OSError;
};
/// Python: BrokenPipeError (EPIPE, ESHUTDOWN).
class BrokenPipeError : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};
/// Python: ConnectionAbortedError (ECONNABORTED).
class ConnectionAbortedError : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};
/// Python: ConnectionRefusedError (ECONNREFUSED).
class ConnectionRefusedError : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};
/// Python: ConnectionResetError (ECONNRESET).
class ConnectionResetError : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};
/// Python: FileNotFoundError (ENOENT).
class FileNotFoundError : public OSError {
 public:
  using OSError::OSError;
};

/// The error category of getaddrinfo()/getnameinfo() codes (EAI_*); message() is gai_strerror.
/// C++ only: the std::error_category of socket.gaierror codes.
const std::error_category& netdb_category() noexcept;

/// Name resolution failed (Python: socket.gaierror). `code()` is the EAI_* value in
/// netdb_category(); what() is Python's "[Errno -2] Name or service not known".
class gaierror : public OSError {
 public:
  /// `eai_code`: the EAI_* value getaddrinfo() returned; strerror() is gai_strerror's text.
  explicit gaierror(int eai_code);
};

/// The error category of TLS failures; the value is OpenSSL's SSL_ERROR_* code.
/// C++ only: the std::error_category of ssl.SSLError codes.
const std::error_category& ssl_category() noexcept;

/// A TLS failure (Python: ssl.SSLError). what() carries OpenSSL's reason.
class SSLError : public OSError {
 public:
  /// `ssl_error`: OpenSSL's SSL_ERROR_* code; `what`: the reason.
  SSLError(int ssl_error, const std::string& what)
      : OSError(std::error_code(ssl_error, ssl_category()), what, what) {}
};

/// The peer's certificate could not be verified: untrusted, expired, or not matching the host
/// name (Python: ssl.SSLCertVerificationError).
class SSLCertVerificationError : public SSLError {
 public:
  /// `verify_code`/`verify_message`: OpenSSL's X509_V_ERR_* result and its text.
  SSLCertVerificationError(long verify_code, std::string verify_message, const std::string& what)
      : SSLError(1 /* SSL_ERROR_SSL */, what),
        verify_code_(verify_code),
        verify_message_(std::move(verify_message)) {}
  /// X509_V_ERR_* (Python: `exc.verify_code`).
  long verify_code() const noexcept { return verify_code_; }
  /// E.g. "Hostname mismatch..." or "self-signed certificate" (Python: `exc.verify_message`).
  const std::string& verify_message() const noexcept { return verify_message_; }

 private:
  long verify_code_;
  std::string verify_message_;
};

/// EOF came before the expected bytes (Python: asyncio.IncompleteReadError).
class IncompleteReadError : public std::runtime_error {
 public:
  /// `expected`: nullopt when the stream was read up to a separator (readuntil()).
  IncompleteReadError(std::string partial, std::optional<std::size_t> expected);
  /// What was read before EOF (Python: `exc.partial`).
  const std::string& partial() const noexcept { return partial_; }
  /// How many bytes were wanted (Python: `exc.expected`, None for readuntil()).
  std::optional<std::size_t> expected() const noexcept { return expected_; }

 private:
  std::string partial_;
  std::optional<std::size_t> expected_;
};

/// The stream's limit was reached while looking for a separator (Python:
/// asyncio.LimitOverrunError). The data stays in the reader's buffer.
class LimitOverrunError : public std::runtime_error {
 public:
  /// `consumed`: how many bytes the caller may consume (Python: LimitOverrunError(message,
  /// consumed)).
  LimitOverrunError(const std::string& message, std::size_t consumed)
      : std::runtime_error(message), consumed_(consumed) {}
  /// How many bytes can be consumed (Python: `exc.consumed`).
  std::size_t consumed() const noexcept { return consumed_; }

 private:
  std::size_t consumed_;
};

/// Builds the most specific OSError subclass for a failed system call (Python: OSError(errno,
/// os.strerror(errno)) picking its subclass): "[Errno 104] Connection reset by peer".
std::exception_ptr make_os_error(int err);
/// The same with asyncio's own text in place of strerror (Python: OSError(errno, message)):
/// "[Errno 111] Connect call failed ('127.0.0.1', 1)".
std::exception_ptr make_os_error(int err, const std::string& strerror);
/// The same with a file name (Python: OSError(errno, strerror, filename)):
/// "[Errno 2] No such file or directory: 'prog'".
std::exception_ptr make_os_error(int err, const std::string& strerror, const std::string& filename);
/// Throws what make_os_error(err) builds (Python: raise OSError(errno, os.strerror(errno))).
[[noreturn]] void throw_os_error(int err);
/// Throws what make_os_error(err, strerror) builds (Python: raise OSError(errno, strerror)).
[[noreturn]] void throw_os_error(int err, const std::string& strerror);

}  // namespace asyncio
