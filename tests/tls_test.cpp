// TLS (Python: test_asyncio/test_sslproto.py, test_ssl.py): our client and server over
// OpenSSL, certificate verification failures, handshake timeout, start_tls upgrades, flow
// control with large transfers, and interop with `openssl s_server` / `openssl s_client`.
// Certificates are generated with the openssl command line into a temp dir at run time.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/ssl.hpp"
#include "net_helpers.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::SSLContext;
using asyncio::StreamReader;
using asyncio::StreamWriter;

namespace {

std::uint16_t port_of(const asyncio::Server& s) { return s.sockets().at(0).getsockname().port(); }

const nettest::TestCerts& certs() {
  static nettest::TestCerts* c = new nettest::TestCerts();  // generated once per process
  return *c;
}

std::shared_ptr<SSLContext> server_context() {
  auto ctx = std::make_shared<SSLContext>(SSLContext::TLS_SERVER);
  ctx->load_cert_chain(certs().cert, certs().key);
  return ctx;
}

std::shared_ptr<SSLContext> client_context() {
  return SSLContext::create_default_context(asyncio::Purpose::SERVER_AUTH, certs().ca_cert);
}

Coro<> tls_echo_handler(StreamReader r, StreamWriter w) {
  while (true) {
    std::string line = co_await r.readline();
    if (line.empty()) break;
    w.write("echo: " + line);
    co_await w.drain();
  }
  w.close();
}

#define REQUIRE_CERTS() \
  if (!certs().ok) GTEST_SKIP() << "openssl could not generate test certificates"

}  // namespace

static Coro<> tls_roundtrip(std::string host) {
  auto server = co_await asyncio::start_server(tls_echo_handler, host, 0, {.ssl = server_context()});
  auto client = client_context();  // the options refer to it: keep it alive
  asyncio::ConnectionOptions opts{.ssl = client};
  auto rw = co_await asyncio::open_connection(host, port_of(server), opts);
  auto& [r, w] = rw;
  w.write("hello over tls\n");
  co_await w.drain();
  EXPECT_EQ(co_await r.readline(), "echo: hello over tls\n");
  auto cert = w.extra<asyncio::PeerCertificate>("peercert");
  if (cert) {
    EXPECT_EQ(cert->subject, "CN=localhost");
    EXPECT_EQ(cert->issuer, "CN=asyncio test CA");
  } else {
    ADD_FAILURE() << "no peercert";
  }
  EXPECT_TRUE(w.extra<std::string>("cipher").has_value());
  EXPECT_TRUE(w.extra<std::string>("version")->starts_with("TLSv1."));
  EXPECT_TRUE(w.get_extra_info("sslcontext").has_value());
  EXPECT_TRUE(w.extra<asyncio::SockAddr>("peername").has_value());  // from the socket
  EXPECT_FALSE(w.can_write_eof());
  w.close();
  co_await w.wait_closed();
  server.close();
  co_await server.wait_closed();
}

TEST(TlsTest, EchoOverIPv4WithHostnameCheck) {
  REQUIRE_CERTS();
  nettest::run(tls_roundtrip("localhost"));
}
TEST(TlsTest, EchoOverIPv4Address) {
  REQUIRE_CERTS();
  nettest::run(tls_roundtrip("127.0.0.1"));
}
TEST(TlsTest, EchoOverIPv6Address) {
  REQUIRE_CERTS();
  nettest::run(tls_roundtrip("::1"));
}

TEST(TlsTest, WrongHostnameFailsVerification) {
  REQUIRE_CERTS();
  nettest::run([]() -> Coro<> {
    auto server = co_await asyncio::start_server(tls_echo_handler, "127.0.0.1", 0, {.ssl = server_context()});
    auto client = client_context();
    asyncio::ConnectionOptions opts{.ssl = client, .server_hostname = "wrong.example.com"};
    try {
      co_await asyncio::open_connection("127.0.0.1", port_of(server), opts);
      ADD_FAILURE() << "the handshake should fail";
    } catch (const asyncio::SSLCertVerificationError& e) {
      EXPECT_EQ(e.verify_code(), 62);  // X509_V_ERR_HOSTNAME_MISMATCH
      EXPECT_NE(std::string(e.what()).find("Hostname mismatch, certificate is not valid for 'wrong.example.com'"),
                std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("CERTIFICATE_VERIFY_FAILED"), std::string::npos) << e.what();
    }
    server.close();
  }());
}

TEST(TlsTest, UntrustedCertificateFailsVerification) {
  REQUIRE_CERTS();
  nettest::run([]() -> Coro<> {
    auto server = co_await asyncio::start_server(tls_echo_handler, "127.0.0.1", 0, {.ssl = server_context()});
    // Trust another CA only.
    auto ctx = SSLContext::create_default_context(asyncio::Purpose::SERVER_AUTH, certs().other_ca_cert);
    asyncio::ConnectionOptions opts{.ssl = ctx};
    try {
      co_await asyncio::open_connection("localhost", port_of(server), opts);
      ADD_FAILURE() << "the handshake should fail";
    } catch (const asyncio::SSLCertVerificationError& e) {
      EXPECT_NE(std::string(e.what()).find("certificate verify failed"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("unable to get local issuer certificate"), std::string::npos) << e.what();
    }
    // Verification can be turned off explicitly.
    auto lax = std::make_shared<SSLContext>(SSLContext::TLS_CLIENT);
    lax->set_check_hostname(false);
    lax->set_verify_mode(asyncio::VerifyMode::CERT_NONE);
    asyncio::ConnectionOptions lax_opts{.ssl = lax};
    auto rw = co_await asyncio::open_connection("127.0.0.1", port_of(server), lax_opts);
    rw.second.write("x\n");
    EXPECT_EQ(co_await rw.first.readline(), "echo: x\n");
    rw.second.close();
    server.close();
  }());
}

TEST(TlsTest, SSLContextOptionsBehaveLikePython) {
  auto ctx = std::make_shared<SSLContext>(SSLContext::TLS_CLIENT);
  EXPECT_TRUE(ctx->check_hostname());
  EXPECT_EQ(ctx->verify_mode(), asyncio::VerifyMode::CERT_REQUIRED);
  EXPECT_THROW(ctx->set_verify_mode(asyncio::VerifyMode::CERT_NONE), asyncio::ValueError);
  auto srv = std::make_shared<SSLContext>(SSLContext::TLS_SERVER);
  EXPECT_FALSE(srv->check_hostname());
  EXPECT_EQ(srv->verify_mode(), asyncio::VerifyMode::CERT_NONE);
  EXPECT_THROW(srv->load_cert_chain("/nonexistent/cert.pem"), asyncio::SSLError);
  EXPECT_THROW(asyncio::run([]() -> Coro<> {
                 // ssl options without ssl are rejected, as in Python.
                 asyncio::ConnectionOptions opts{.server_hostname = "x"};
                 co_await asyncio::open_connection("127.0.0.1", 1, opts);
               }()),
               asyncio::ValueError);
}

TEST(TlsTest, HandshakeTimeoutAbortsTheConnection) {
  REQUIRE_CERTS();
  nettest::run([]() -> Coro<> {
    // A plain TCP server that never answers the ClientHello.
    auto server = co_await asyncio::start_server(
        [](StreamReader r, StreamWriter) -> Coro<> { co_await r.read(); }, "127.0.0.1", 0);
    auto client = client_context();
    asyncio::ConnectionOptions opts{.ssl = client, .ssl_handshake_timeout = asyncio::Duration(0.2)};
    auto t0 = std::chrono::steady_clock::now();
    try {
      co_await asyncio::open_connection("localhost", port_of(server), opts);
      ADD_FAILURE();
    } catch (const asyncio::ConnectionAbortedError& e) {
      EXPECT_NE(std::string(e.what()).find("SSL handshake is taking longer than 0.2 seconds"), std::string::npos)
          << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    server.close();
  }());
}

TEST(TlsTest, PlainClientAgainstTlsServerFailsCleanly) {
  REQUIRE_CERTS();
  int before = nettest::count_fds();
  nettest::run([]() -> Coro<> {
    auto server = co_await asyncio::start_server(tls_echo_handler, "127.0.0.1", 0, {.ssl = server_context()});
    auto rw = co_await asyncio::open_connection("127.0.0.1", port_of(server));
    rw.second.write("GET / HTTP/1.0\r\n\r\n");  // not a TLS ClientHello
    std::string reply = co_await rw.first.read();  // the server aborts: EOF (or an alert)
    (void)reply;
    rw.second.close();
    server.close();
    co_await server.wait_closed();
  }());
  EXPECT_EQ(nettest::count_fds(), before);
}

TEST(TlsTest, StartTlsUpgradesAPlainConnection) {
  REQUIRE_CERTS();
  nettest::run([]() -> Coro<> {
    auto sctx = server_context();
    // The handler is named: a lambda capturing a shared_ptr must not be a temporary inside a
    // co_await expression with GCC 12 (see net.hpp).
    auto handler = [sctx](StreamReader r, StreamWriter w) -> Coro<> {
          EXPECT_EQ(co_await r.readline(), "STARTTLS\n");
          w.write("GO\n");
          co_await w.drain();
          co_await w.start_tls(sctx);
          EXPECT_TRUE(w.get_extra_info("sslcontext").has_value());
          std::string secret = co_await r.readline();
          w.write("secret was " + secret);
          co_await w.drain();
          w.close();
        };
    auto server = co_await asyncio::start_server(handler, "127.0.0.1", 0);
    auto rw = co_await asyncio::open_connection("127.0.0.1", port_of(server));
    auto& [r, w] = rw;
    w.write("STARTTLS\n");
    EXPECT_EQ(co_await r.readline(), "GO\n");
    co_await w.start_tls(client_context(), std::string("localhost"));
    EXPECT_TRUE(w.extra<asyncio::PeerCertificate>("peercert").has_value());
    w.write("swordfish\n");
    EXPECT_EQ(co_await r.readline(), "secret was swordfish\n");
    EXPECT_EQ(co_await r.read(), "");
    w.close();
    server.close();
  }());
}

TEST(TlsTest, LargeTransferBothWaysWithFlowControl) {
  REQUIRE_CERTS();
  nettest::run([]() -> Coro<> {
    constexpr std::size_t kTotal = 16u << 20;
    auto server = co_await asyncio::start_server(
        [](StreamReader r, StreamWriter w) -> Coro<> {
          while (true) {
            std::string d = co_await r.read(1 << 16);
            if (d.empty()) break;
            w.write(d);
            co_await w.drain();
          }
          w.close();
        },
        "127.0.0.1", 0, {.ssl = server_context()});
    auto client = client_context();
    asyncio::ConnectionOptions opts{.ssl = client, .server_hostname = "localhost"};
    auto rw = co_await asyncio::open_connection("127.0.0.1", port_of(server), opts);
    auto& [r, w] = rw;
    std::string block(1 << 20, '\0');
    for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i * 31 % 251);
    auto reader = asyncio::create_task([](StreamReader r, std::string block) -> Coro<std::size_t> {
      std::size_t got = 0;
      while (got < kTotal) {
        std::string d = co_await r.read(1 << 20);
        if (d.empty()) break;
        for (std::size_t i = 0; i < d.size(); ++i) {
          if (d[i] != block[(got + i) % block.size()]) {
            ADD_FAILURE() << "corrupted at " << got + i;
            co_return got;
          }
        }
        got += d.size();
      }
      co_return got;
    }(r, block));
    for (std::size_t sent = 0; sent < kTotal; sent += block.size()) {
      w.write(block);
      EXPECT_LE(w.transport()->get_write_buffer_size(), 512u * 1024 + block.size() + 64 * 1024);
      co_await w.drain();
    }
    EXPECT_EQ(co_await reader, kTotal);
    w.close();
    co_await w.wait_closed();
    server.close();
  }(), 60s);
}

TEST(TlsTest, UnixSocketTls) {
  REQUIRE_CERTS();
  nettest::TempDir dir;
  nettest::run([](std::string path) -> Coro<> {
    auto server = co_await asyncio::start_unix_server(tls_echo_handler, path, {.ssl = server_context()});
    auto client = client_context();
    asyncio::UnixConnectionOptions opts{.ssl = client, .server_hostname = "localhost"};
    auto rw = co_await asyncio::open_unix_connection(path, opts);
    rw.second.write("over unix tls\n");
    EXPECT_EQ(co_await rw.first.readline(), "echo: over unix tls\n");
    rw.second.close();
    co_await rw.second.wait_closed();
    server.close();
  }(dir.file("tls.sock")));
}

// ---- Interop with the openssl command line --------------------------------------------------

TEST(TlsTest, OurClientAgainstOpensslSServer) {
  REQUIRE_CERTS();
  // Reserve a port, then let s_server bind it (it has no "print the port" option).
  std::uint16_t port;
  {
    auto s = asyncio::Socket::create(AF_INET, SOCK_STREAM);
    s.bind(asyncio::SockAddr::inet("127.0.0.1", 0));
    port = s.getsockname().port();
  }
  nettest::Process srv({"openssl", "s_server", "-4", "-accept", "127.0.0.1:" + std::to_string(port), "-cert",
                        certs().cert, "-key", certs().key, "-rev", "-naccept", "1"},
                       /*merge_stderr=*/true);
  bool ready = false;
  for (int i = 0; i < 200 && !ready; ++i) {
    auto line = srv.read_line(5s);
    if (!line) break;
    if (line->find("ACCEPT") != std::string::npos) ready = true;
  }
  ASSERT_TRUE(ready) << "openssl s_server did not start";
  nettest::run([](std::uint16_t port) -> Coro<> {
    auto client = client_context();
    asyncio::ConnectionOptions opts{.ssl = client};
    auto rw = co_await asyncio::open_connection("localhost", port, opts);
    auto& [r, w] = rw;
    w.write("hello openssl\n");
    // -rev: s_server answers each line reversed.
    std::string line;
    for (int i = 0; i < 10 && line.find("lssnepo olleh") == std::string::npos; ++i) line = co_await r.readline();
    EXPECT_NE(line.find("lssnepo olleh"), std::string::npos) << line;
    w.close();
  }(port));
}

TEST(TlsTest, OpensslSClientAgainstOurServer) {
  REQUIRE_CERTS();
  asyncio::Runner runner;
  asyncio::Server server = runner.run([]() -> Coro<asyncio::Server> {
    co_return co_await asyncio::start_server(tls_echo_handler, "127.0.0.1", 0, {.ssl = server_context()});
  }());
  std::uint16_t port = port_of(server);
  auto client = std::make_unique<nettest::Process>(
      std::vector<std::string>{"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port), "-CAfile",
                               certs().ca_cert, "-verify_hostname", "localhost", "-verify_return_error", "-quiet"},
      /*merge_stderr=*/true, /*stdin_pipe=*/true);
  client->write_stdin("ping from s_client\n");
  std::string out = runner.run([](nettest::Process& p) -> Coro<std::string> {
    // Serve while waiting for s_client's output (its stdout is read without blocking the loop).
    std::string all;
    for (int i = 0; i < 500 && all.find("echo: ping from s_client") == std::string::npos; ++i) {
      co_await asyncio::sleep(0.01s);
      pollfd pf{};
      (void)pf;
      if (auto line = p.read_line(std::chrono::milliseconds(1))) all += *line + "\n";
    }
    co_return all;
  }(*client));
  EXPECT_NE(out.find("echo: ping from s_client"), std::string::npos) << out;
  client->close_stdin();
  client.reset();
  runner.run([](asyncio::Server s) -> Coro<> {
    s.close();
    co_await asyncio::wait_for(s.wait_closed(), 10s);
  }(server));
}
