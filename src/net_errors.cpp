// The networking layer's exceptions (see asyncio/net_errors.hpp).

#include "asyncio/net_errors.hpp"

#include <netdb.h>

#include <cerrno>
#include <cstring>

#include "asyncio/repr.hpp"

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

struct OSError::Text {
  std::string what;
  std::string strerror;
  std::string filename;
  bool message_only = false;
};

namespace {
std::string errno_text(int err, const std::string& strerror) {
  return "[Errno " + std::to_string(err) + "] " + strerror;
}
}  // namespace

OSError::OSError(int err, const std::string& strerror)
    : std::system_error(err, std::generic_category()),
      text_(std::make_shared<const Text>(Text{errno_text(err, strerror), strerror, {}})) {}

OSError::OSError(int err, const std::string& strerror, const std::string& filename)
    : std::system_error(err, std::generic_category()),
      text_(std::make_shared<const Text>(
          Text{errno_text(err, strerror) + ": " + repr(filename), strerror, filename})) {}

OSError::OSError(const std::string& message)
    : std::system_error(std::error_code()),
      text_(std::make_shared<const Text>(Text{message, {}, {}, true})) {}

OSError::OSError(std::error_code ec, const std::string& strerror, const std::string& what)
    : std::system_error(ec), text_(std::make_shared<const Text>(Text{what, strerror, {}})) {}

const char* OSError::what() const noexcept {
  return text_->what.c_str();
}
const std::string& OSError::strerror() const noexcept {
  return text_->strerror;
}
const std::string& OSError::filename() const noexcept {
  return text_->filename;
}
bool OSError::message_only() const noexcept {
  return text_->message_only;
}

gaierror::gaierror(int eai_code)
    : OSError(std::error_code(eai_code, netdb_category()), ::gai_strerror(eai_code),
              errno_text(eai_code, ::gai_strerror(eai_code))) {}

namespace {
template <class... A>
std::exception_ptr os_error_for(int err, const A&... args) {
  switch (err) {
    case EPIPE:
    case ESHUTDOWN:
      return std::make_exception_ptr(BrokenPipeError(err, args...));
    case ECONNABORTED:
      return std::make_exception_ptr(ConnectionAbortedError(err, args...));
    case ECONNREFUSED:
      return std::make_exception_ptr(ConnectionRefusedError(err, args...));
    case ECONNRESET:
      return std::make_exception_ptr(ConnectionResetError(err, args...));
    case ENOENT:
      return std::make_exception_ptr(FileNotFoundError(err, args...));
    default:
      return std::make_exception_ptr(OSError(err, args...));
  }
}
}  // namespace

std::exception_ptr make_os_error(int err) {
  return os_error_for(err, std::generic_category().message(err));
}
std::exception_ptr make_os_error(int err, const std::string& strerror) {
  return os_error_for(err, strerror);
}
std::exception_ptr make_os_error(int err, const std::string& strerror,
                                 const std::string& filename) {
  return os_error_for(err, strerror, filename);
}

void throw_os_error(int err) {
  std::rethrow_exception(make_os_error(err));
}
void throw_os_error(int err, const std::string& strerror) {
  std::rethrow_exception(make_os_error(err, strerror));
}

}  // namespace asyncio
