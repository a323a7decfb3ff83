// asyncio/ssl.hpp — TLS contexts over OpenSSL (Python: the parts of the `ssl` module asyncio
// needs: SSLContext, create_default_context, CERT_* verify modes, the peer certificate).
//
//   auto client = asyncio::SSLContext::create_default_context();      // verifies, checks host
//   client->load_verify_locations("ca.pem");                           // trust a private CA
//   auto [r, w] = co_await asyncio::open_connection("localhost", 8443, {.ssl = client});
//
//   auto server = std::make_shared<asyncio::SSLContext>(asyncio::SSLContext::TLS_SERVER);
//   server->load_cert_chain("cert.pem", "key.pem");
//   co_await asyncio::start_server(handle, "127.0.0.1", 8443, {.ssl = server});
//
// As in Python, a client context verifies the peer's certificate chain and host name by
// default (CERT_REQUIRED + check_hostname); failures raise SSLCertVerificationError with
// OpenSSL's reason ("Hostname mismatch, certificate is not valid for 'x'.", "unable to get
// local issuer certificate", ...). Contexts are shared (std::shared_ptr) and may serve any
// number of connections; configure them before use. Create them with std::make_shared (or
// create_default_context()): connections keep a reference to their context.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "asyncio/net_errors.hpp"

struct ssl_ctx_st;
struct ssl_st;

namespace asyncio {

/// Python: ssl.CERT_NONE / CERT_OPTIONAL / CERT_REQUIRED.
enum class VerifyMode { CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED };

/// Python: ssl.Purpose.SERVER_AUTH (a client context that authenticates servers) and
/// ssl.Purpose.CLIENT_AUTH (a server context).
enum class Purpose { SERVER_AUTH, CLIENT_AUTH };

/// Python: ssl.TLSVersion (the ones that matter).
enum class TLSVersion { MINIMUM_SUPPORTED, TLSv1_2, TLSv1_3, MAXIMUM_SUPPORTED };

/// A summary of the peer's certificate (Python: SSLObject.getpeercert(), reduced to strings).
struct PeerCertificate {
  std::string subject;                         ///< e.g. "CN=localhost"
  std::string issuer;                          ///< e.g. "CN=asyncio test CA"
  std::vector<std::string> subject_alt_names;  ///< e.g. {"DNS:localhost", "IP Address:127.0.0.1"}
  std::string not_before;     ///< Start of validity, e.g. "Jan  1 00:00:00 2026 GMT"
  std::string not_after;      ///< End of validity, same format
  std::string serial_number;  ///< hex
};

/// Python: ssl.SSLContext.
class SSLContext : public std::enable_shared_from_this<SSLContext> {
 public:
  /// Python: ssl.PROTOCOL_TLS_CLIENT / PROTOCOL_TLS_SERVER.
  enum Protocol { TLS_CLIENT, TLS_SERVER };

  /// TLS_CLIENT: CERT_REQUIRED with check_hostname (trust store empty until
  /// load_verify_locations()/load_default_certs()); TLS_SERVER: CERT_NONE.
  explicit SSLContext(Protocol protocol = TLS_CLIENT);
  ~SSLContext();
  SSLContext(const SSLContext&) = delete;
  SSLContext& operator=(const SSLContext&) = delete;

  /// Python: ssl.create_default_context(purpose, cafile=, capath=, cadata=): secure defaults
  /// and, without cafile/capath/cadata, the system's trusted CAs.
  static std::shared_ptr<SSLContext> create_default_context(
      Purpose purpose = Purpose::SERVER_AUTH, std::optional<std::string> cafile = std::nullopt,
      std::optional<std::string> capath = std::nullopt,
      std::optional<std::string> cadata = std::nullopt);

  /// Loads a certificate (chain) and its private key (PEM files). Throws SSLError, or
  /// ValueError("embedded null byte") for a path holding a NUL (as Python).
  /// Python: SSLContext.load_cert_chain().
  void load_cert_chain(const std::string& certfile,
                       std::optional<std::string> keyfile = std::nullopt,
                       std::optional<std::string> password = std::nullopt);
  /// Trusts the CAs in `cafile`/`capath` or the PEM text `cadata`. Throws SSLError, or
  /// ValueError("embedded null byte") for a path holding a NUL (as Python).
  /// Python: SSLContext.load_verify_locations().
  void load_verify_locations(std::optional<std::string> cafile = std::nullopt,
                             std::optional<std::string> capath = std::nullopt,
                             std::optional<std::string> cadata = std::nullopt);
  /// Trusts the system's default CAs (Python: load_default_certs / set_default_verify_paths).
  void load_default_certs();

  /// Whether the peer's certificate must match the host name (Python:
  /// SSLContext.check_hostname).
  bool check_hostname() const noexcept { return check_hostname_; }
  /// Enabling it also makes verify_mode CERT_REQUIRED if it was CERT_NONE (as Python).
  void set_check_hostname(bool value);
  /// Whether and how the peer's certificate is verified (Python: SSLContext.verify_mode).
  VerifyMode verify_mode() const noexcept { return verify_mode_; }
  /// Throws ValueError for CERT_NONE while check_hostname is on (as Python).
  void set_verify_mode(VerifyMode mode);

  /// OpenSSL cipher list for TLS 1.2 and below (Python: SSLContext.set_ciphers()). Throws
  /// SSLError if none matches.
  void set_ciphers(const std::string& ciphers);
  /// Protocols offered/accepted with ALPN, by preference (Python:
  /// SSLContext.set_alpn_protocols()).
  void set_alpn_protocols(const std::vector<std::string>& protocols);
  /// Lowest TLS version allowed (Python: SSLContext.minimum_version = v).
  void set_minimum_version(TLSVersion v);
  /// Highest TLS version allowed (Python: SSLContext.maximum_version = v).
  void set_maximum_version(TLSVersion v);

  /// Whether it is a TLS_SERVER context (Python: the context's protocol is
  /// PROTOCOL_TLS_SERVER).
  bool server_side() const noexcept { return protocol_ == TLS_SERVER; }
  /// OpenSSL's SSL_CTX, for settings not wrapped here.
  /// C++ only (no Python counterpart).
  ssl_ctx_st* native_handle() const noexcept { return ctx_; }

  /// Creates the SSL object for one connection (internal; used by the TLS protocol):
  /// applies SNI and host name checking for clients.
  /// Python: SSLContext.wrap_bio().
  ssl_st* new_ssl(bool server_side, const std::optional<std::string>& server_hostname) const;

 private:
  ssl_ctx_st* ctx_ = nullptr;
  Protocol protocol_;
  bool check_hostname_ = false;
  VerifyMode verify_mode_ = VerifyMode::CERT_NONE;
  std::vector<unsigned char> alpn_;
};

namespace detail {
/// The OpenSSL error queue (plus the verify result of `ssl`, if any) as an exception.
std::exception_ptr make_ssl_error(ssl_st* ssl, int ssl_error, const std::string& context);
PeerCertificate peer_certificate(ssl_st* ssl);
}  // namespace detail

}  // namespace asyncio
