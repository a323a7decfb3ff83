// The networking layer's exceptions (see asyncio/net_errors.hpp).

#include "asyncio/net_errors.hpp"

#include <netdb.h>

#include <cerrno>
#include <cstring>

namespace asyncio {
namespace {

class NetdbCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "netdb"; }
  std::string message(int code) const override { return ::gai_strerror(code); }
};

class SslCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ssl"; }
  std::string message(int code) const override {
    switch (code) {
      case 1:
        return "SSL error";  // SSL_ERROR_SSL
      case 5:
        return "SSL system call error";  // SSL_ERROR_SYSCALL
      case 6:
        return "TLS/SSL connection has been closed (EOF)";  // SSL_ERROR_ZERO_RETURN
      case 8:
        return "EOF occurred in violation of protocol";
      default:
        return "SSL error " + std::to_string(code);
    }
  }
};

std::string partial_message(std::size_t got, std::optional<std::size_t> expected) {
  std::string e = expected ? std::to_string(*expected) : std::string("undefined");
  return std::to_string(got) + " bytes read on a total of " + e + " expected bytes";
}

}  // namespace

const std::error_category& netdb_category() noexcept {
  static const NetdbCategory category;
  return category;
}

const std::error_category& ssl_category() noexcept {
  static const SslCategory category;
  return category;
}

IncompleteReadError::IncompleteReadError(std::string partial, std::optional<std::size_t> expected)
    : std::runtime_error(partial_message(partial.size(), expected)),
      partial_(std::move(partial)),
      expected_(expected) {}

std::exception_ptr make_os_error(int err, const std::string& what) {
  switch (err) {
    case EPIPE:
    case ESHUTDOWN:
      return std::make_exception_ptr(BrokenPipeError(err, what));
    case ECONNABORTED:
      return std::make_exception_ptr(ConnectionAbortedError(err, what));
    case ECONNREFUSED:
      return std::make_exception_ptr(ConnectionRefusedError(err, what));
    case ECONNRESET:
      return std::make_exception_ptr(ConnectionResetError(err, what));
    case ENOENT:
      return std::make_exception_ptr(FileNotFoundError(err, what));
    default:
      return std::make_exception_ptr(OSError(err, what));
  }
}

void throw_os_error(int err, const std::string& what) {
  std::rethrow_exception(make_os_error(err, what));
}

}  // namespace asyncio
