// SSLContext over OpenSSL (see asyncio/ssl.hpp).

#include "asyncio/ssl.hpp"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "asyncio/exceptions.hpp"

namespace asyncio {
namespace {

std::string reason_code(unsigned long e) {
  const char* reason = ERR_reason_error_string(e);
  std::string r = reason ? reason : "unknown error";
  std::string code = r;
  for (char& c : code)
    c = c == ' ' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const char* lib = ERR_lib_error_string(e);
  std::string l = lib ? lib : "SSL";
  if (l == "SSL routines") l = "SSL";
  return "[" + l + ": " + code + "] " + r;
}

[[noreturn]] void throw_ssl(const std::string& what) {
  unsigned long e = ERR_get_error();
  std::string msg = what;
  if (e != 0) msg += ": " + reason_code(e);
  ERR_clear_error();
  throw SSLError(1, msg);
}

bool is_ip_address(const std::string& host) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

int tls_version(TLSVersion v) {
  switch (v) {
    case TLSVersion::TLSv1_2:
      return TLS1_2_VERSION;
    case TLSVersion::TLSv1_3:
      return TLS1_3_VERSION;
    default:
      return 0;
  }
}

/// A C string ends at its first NUL: OpenSSL would open another file than the one named.
void check_path(const std::optional<std::string>& path) {
  if (path && path->find('\0') != std::string::npos) throw ValueError("embedded null byte");
}

int password_cb(char* buf, int size, int /*rwflag*/, void* userdata) {
  const auto* pw = static_cast<const std::string*>(userdata);
  if (!pw) return 0;
  int n = std::min(size, static_cast<int>(pw->size()));
  std::memcpy(buf, pw->data(), static_cast<std::size_t>(n));
  return n;
}

std::string name_to_string(X509_NAME* name) {
  if (!name) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return s;
}

std::string time_to_string(const ASN1_TIME* t) {
  if (!t) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  ASN1_TIME_print(bio, t);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return s;
}

}  // namespace

SSLContext::SSLContext(Protocol protocol) : protocol_(protocol) {
  ctx_ = SSL_CTX_new(protocol == TLS_SERVER ? TLS_server_method() : TLS_client_method());
  if (!ctx_) throw_ssl("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx_, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // TLS is unidirectionally framed: allow partial writes and moving buffers so the write
  // backlog can be a plain byte buffer.
  SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                             SSL_MODE_RELEASE_BUFFERS);
  if (protocol == TLS_CLIENT) {
    check_hostname_ = true;
    set_verify_mode(VerifyMode::CERT_REQUIRED);
  } else {
    set_verify_mode(VerifyMode::CERT_NONE);
  }
}

SSLContext::~SSLContext() {
  SSL_CTX_free(ctx_);
}

std::shared_ptr<SSLContext> SSLContext::create_default_context(Purpose purpose,
                                                               std::optional<std::string> cafile,
                                                               std::optional<std::string> capath,
                                                               std::optional<std::string> cadata) {
  auto ctx =
      std::make_shared<SSLContext>(purpose == Purpose::SERVER_AUTH ? TLS_CLIENT : TLS_SERVER);
  if (cafile || capath || cadata) {
    ctx->load_verify_locations(cafile, capath, cadata);
  } else if (ctx->verify_mode() != VerifyMode::CERT_NONE) {
    ctx->load_default_certs();
  }
  return ctx;
}

void SSLContext::load_cert_chain(const std::string& certfile, std::optional<std::string> keyfile,
                                 std::optional<std::string> password) {
  check_path(certfile);
  check_path(keyfile);
  std::string pw = password.value_or("");
  SSL_CTX_set_default_passwd_cb(ctx_, password_cb);
  SSL_CTX_set_default_passwd_cb_userdata(ctx_, password ? &pw : nullptr);
  struct Reset {
    SSL_CTX* c;
    ~Reset() {
      SSL_CTX_set_default_passwd_cb(c, nullptr);
      SSL_CTX_set_default_passwd_cb_userdata(c, nullptr);
    }
  } reset{ctx_};
  if (SSL_CTX_use_certificate_chain_file(ctx_, certfile.c_str()) != 1) {
    throw_ssl("cannot load certificate chain '" + certfile + "'");
  }
  const std::string& key = keyfile ? *keyfile : certfile;
  if (SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw_ssl("cannot load private key '" + key + "'");
  }
  if (SSL_CTX_check_private_key(ctx_) != 1) throw_ssl("private key does not match the certificate");
}

void SSLContext::load_verify_locations(std::optional<std::string> cafile,
                                       std::optional<std::string> capath,
                                       std::optional<std::string> cadata) {
  if (!cafile && !capath && !cadata)
    throw ValueError("cafile, capath and cadata cannot be all omitted");
  check_path(cafile);
  check_path(capath);
  if (cafile || capath) {
    if (SSL_CTX_load_verify_locations(ctx_, cafile ? cafile->c_str() : nullptr,
                                      capath ? capath->c_str() : nullptr) != 1) {
      throw_ssl("cannot load verify locations");
    }
  }
  if (cadata) {
    BIO* bio = BIO_new_mem_buf(cadata->data(), static_cast<int>(cadata->size()));
    X509_STORE* store = SSL_CTX_get_cert_store(ctx_);
    int count = 0;
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, cert);
      X509_free(cert);
      ++count;
    }
    BIO_free(bio);
    ERR_clear_error();
    if (count == 0) throw SSLError(1, "no certificate found in cadata");
  }
}

void SSLContext::load_default_certs() {
  if (SSL_CTX_set_default_verify_paths(ctx_) != 1)
    throw_ssl("cannot load the default CA certificates");
}

void SSLContext::set_check_hostname(bool value) {
  if (value && verify_mode_ == VerifyMode::CERT_NONE) set_verify_mode(VerifyMode::CERT_REQUIRED);
  check_hostname_ = value;
}

void SSLContext::set_verify_mode(VerifyMode mode) {
  if (mode == VerifyMode::CERT_NONE && check_hostname_) {
    throw ValueError("Cannot set verify_mode to CERT_NONE when check_hostname is enabled.");
  }
  int flags = SSL_VERIFY_NONE;
  if (mode == VerifyMode::CERT_OPTIONAL) flags = SSL_VERIFY_PEER;
  if (mode == VerifyMode::CERT_REQUIRED) {
    flags = SSL_VERIFY_PEER | (protocol_ == TLS_SERVER ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
  }
  SSL_CTX_set_verify(ctx_, flags, nullptr);
  verify_mode_ = mode;
}

void SSLContext::set_ciphers(const std::string& ciphers) {
  if (ciphers.find('\0') != std::string::npos) throw ValueError("embedded null character");
  if (SSL_CTX_set_cipher_list(ctx_, ciphers.c_str()) != 1) throw_ssl("No cipher can be selected.");
}

void SSLContext::set_alpn_protocols(const std::vector<std::string>& protocols) {
  alpn_.clear();
  for (const auto& p : protocols) {
    if (p.empty() || p.size() > 255) throw ValueError("ALPN protocols must be 1 to 255 in length");
    alpn_.push_back(static_cast<unsigned char>(p.size()));
    alpn_.insert(alpn_.end(), p.begin(), p.end());
  }
  if (protocol_ == TLS_CLIENT) {
    SSL_CTX_set_alpn_protos(ctx_, alpn_.data(), static_cast<unsigned>(alpn_.size()));
  } else {
    SSL_CTX_set_alpn_select_cb(
        ctx_,
        [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
           unsigned inlen, void* arg) -> int {
          auto* self = static_cast<SSLContext*>(arg);
          unsigned char* o = nullptr;
          if (SSL_select_next_proto(&o, outlen, self->alpn_.data(),
                                    static_cast<unsigned>(self->alpn_.size()), in,
                                    inlen) != OPENSSL_NPN_NEGOTIATED) {
            return SSL_TLSEXT_ERR_NOACK;
          }
          *out = o;
          return SSL_TLSEXT_ERR_OK;
        },
        this);
  }
}

void SSLContext::set_minimum_version(TLSVersion v) {
  SSL_CTX_set_min_proto_version(ctx_, tls_version(v));
}
void SSLContext::set_maximum_version(TLSVersion v) {
  SSL_CTX_set_max_proto_version(ctx_, tls_version(v));
}

ssl_st* SSLContext::new_ssl(bool server_side,
                            const std::optional<std::string>& server_hostname) const {
  // A C string ends at its first NUL: "good.example\0evil" would be checked as
  // "good.example". (CPython: TypeError; the library has no TypeError, see python-mapping.md.)
  if (server_hostname && server_hostname->find('\0') != std::string::npos) {
    throw ValueError("embedded null character");
  }
  if (!server_side && check_hostname_ && (!server_hostname || server_hostname->empty())) {
    throw ValueError("check_hostname requires server_hostname");
  }
  if (server_side && protocol_ == TLS_CLIENT)
    throw ValueError("a TLS_CLIENT context cannot be used server side");
  if (!server_side && protocol_ == TLS_SERVER)
    throw ValueError("a TLS_SERVER context cannot be used client side");
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) throw_ssl("SSL_new");
  if (server_side) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
    if (server_hostname && !server_hostname->empty()) {
      bool ip = is_ip_address(*server_hostname);
      // Fails for a name longer than 255 bytes: an error, not a handshake without SNI.
      if (!ip && SSL_set_tlsext_host_name(ssl, server_hostname->c_str()) != 1) {
        SSL_free(ssl);
        throw_ssl("invalid server_hostname (" + std::to_string(server_hostname->size()) +
                  " bytes)");
      }
      if (check_hostname_) {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, server_hostname->c_str())
                    : X509_VERIFY_PARAM_set1_host(param, server_hostname->c_str(), 0);
        if (ok != 1) {
          SSL_free(ssl);
          throw_ssl("invalid server_hostname '" + *server_hostname + "'");
        }
      }
    }
  }
  return ssl;
}

namespace detail {

std::exception_ptr make_ssl_error(ssl_st* ssl, int ssl_error, const std::string& context) {
  unsigned long e = ERR_peek_last_error();
  if (ssl && e != 0 && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    long code = SSL_get_verify_result(ssl);
    std::string vmsg = X509_verify_cert_error_string(code);
    if (code == X509_V_ERR_HOSTNAME_MISMATCH || code == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      const char* peer = SSL_get0_peername(ssl);
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      (void)param;
      std::string host = peer ? peer : "";
      if (host.empty()) {
        const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        host = sni ? sni : "";
      }
      vmsg = (code == X509_V_ERR_IP_ADDRESS_MISMATCH
                  ? "IP address mismatch, certificate is not valid for '"
                  : "Hostname mismatch, certificate is not valid for '") +
             host + "'.";
    }
    ERR_clear_error();
    return std::make_exception_ptr(SSLCertVerificationError(
        code, vmsg,
        context + ": [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: " + vmsg));
  }
  std::string msg = context;
  if (e != 0) {
    msg += ": " + reason_code(e);
  } else if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN) {
    msg += ": [SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol";
    ssl_error = 8;
  }
  ERR_clear_error();
  return std::make_exception_ptr(SSLError(ssl_error, msg));
}

PeerCertificate peer_certificate(ssl_st* ssl) {
  PeerCertificate pc;
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return pc;
  pc.subject = name_to_string(X509_get_subject_name(cert));
  pc.issuer = name_to_string(X509_get_issuer_name(cert));
  pc.not_before = time_to_string(X509_get0_notBefore(cert));
  pc.not_after = time_to_string(X509_get0_notAfter(cert));
  if (const ASN1_INTEGER* serial = X509_get0_serialNumber(cert)) {
    BIGNUM* bn = ASN1_INTEGER_to_BN(serial, nullptr);
    char* hex = BN_bn2hex(bn);
    pc.serial_number = hex;
    OPENSSL_free(hex);
    BN_free(bn);
  }
  if (auto* names = static_cast<GENERAL_NAMES*>(
          X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
      if (gn->type == GEN_DNS) {
        const auto* s = ASN1_STRING_get0_data(gn->d.dNSName);
        pc.subject_alt_names.push_back(
            "DNS:" + std::string(reinterpret_cast<const char*>(s),
                                 static_cast<std::size_t>(ASN1_STRING_length(gn->d.dNSName))));
      } else if (gn->type == GEN_IPADD) {
        const auto* d = ASN1_STRING_get0_data(gn->d.iPAddress);
        int len = ASN1_STRING_length(gn->d.iPAddress);
        char buf[64] = {};
        if (len == 4) ::inet_ntop(AF_INET, d, buf, sizeof buf);
        if (len == 16) ::inet_ntop(AF_INET6, d, buf, sizeof buf);
        pc.subject_alt_names.push_back(std::string("IP Address:") + buf);
      }
    }
    GENERAL_NAMES_free(names);
  }
  X509_free(cert);
  return pc;
}

}  // namespace detail
}  // namespace asyncio
