// Interop with real peers started by the tests: Python's own asyncio (tests/peers/
// asyncio_peer.py) both ways over TCP (IPv4/IPv6), Unix sockets, UDP and TLS; our HTTP
// client against Python's http.server; curl against the http_fetch example's server.

#include <openssl/sha.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/ssl.hpp"
#include "net_helpers.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::StreamReader;
using asyncio::StreamWriter;

namespace {

const nettest::TestCerts& certs() {
  static nettest::TestCerts* c = new nettest::TestCerts();
  return *c;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : md) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

std::string payload() {
  std::string p;
  for (int i = 0; i < 4096; ++i) {
    for (int b = 0; b < 256; ++b) p += static_cast<char>(b);
  }
  return p;  // 1 MiB, the same as the Python peer's
}

/// The peers' line protocol: "echo: <line>" and "sha256 <n>\n<n bytes>" -> hex digest.
Coro<> protocol_handler(StreamReader r, StreamWriter w) {
  while (true) {
    std::string line = co_await r.readline();
    if (line.empty()) break;
    if (line.starts_with("sha256 ")) {
      std::size_t n = std::stoul(line.substr(7));
      std::string data = co_await r.readexactly(n);
      w.write(sha256_hex(data) + "\n");
    } else {
      w.write("echo: " + line);
    }
    co_await w.drain();
  }
  w.close();
}

/// Our client side of the protocol.
Coro<> client_session(StreamReader r, StreamWriter w) {
  w.write("hello from C++\n");
  co_await w.drain();
  EXPECT_EQ(co_await r.readline(), "echo: hello from C++\n");
  std::string data = payload();
  w.write("sha256 " + std::to_string(data.size()) + "\n");
  w.write(data);
  co_await w.drain();
  std::string digest = co_await r.readline();
  EXPECT_EQ(digest, sha256_hex(data) + "\n");
  w.close();
  co_await w.wait_closed();
}

/// Starts a Python server peer and returns it with what it printed after READY.
std::pair<std::unique_ptr<nettest::Process>, std::string> python_server(const std::vector<std::string>& args) {
  auto p = nettest::python_peer("asyncio_peer.py", args);
  // The peer exits when its stdin closes; give it a pipe we hold.
  std::string ready;
  if (auto line = p->read_line(30s); line && line->starts_with("READY ")) ready = line->substr(6);
  return {std::move(p), ready};
}

/// Runs our loop until the Python client child exits; returns its exit status and output.
template <class Setup>
std::pair<int, std::string> serve_python_client(Setup setup, const std::vector<std::string>& extra_args) {
  asyncio::Runner runner;
  auto [server, addr_args] = runner.run(setup());
  std::vector<std::string> args = extra_args;
  args.insert(args.end(), addr_args.begin(), addr_args.end());
  auto client = nettest::python_peer("asyncio_peer.py", args, /*merge_stderr=*/true);
  pid_t pid = client->pid();
  int status = -1;
  std::string out = runner.run([](nettest::Process& p, pid_t pid, int& status) -> Coro<std::string> {
    std::string all;
    for (int i = 0; i < 6000; ++i) {  // at most 60 s
      while (auto line = p.read_line(std::chrono::milliseconds(0))) all += *line + "\n";
      int st = 0;
      if (::waitpid(pid, &st, WNOHANG) == pid) {
        status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        all += p.read_all(1s);
        co_return all;
      }
      co_await asyncio::sleep(0.01s);
    }
    co_return all;
  }(*client, pid, status));
  if (status >= 0) client->reaped();  // don't let ~Process kill a recycled pid
  runner.run([](asyncio::Server s) -> Coro<> {
    s.close();
    co_await asyncio::wait_for(s.wait_closed(), 10s);
  }(server));
  return {status, out};
}

}  // namespace

// ---- Our client against Python's asyncio server ----------------------------------------------

TEST(InteropTest, OurClientPythonServerTcpIPv4AndIPv6) {
  for (std::string host : {"127.0.0.1", "::1"}) {
    auto [py, port] = python_server({"server", "tcp", "--host", host});
    ASSERT_FALSE(port.empty()) << "python server did not start";
    nettest::run([](std::string host, std::uint16_t port) -> Coro<> {
      auto rw = co_await asyncio::open_connection(host, port);
      co_await client_session(rw.first, rw.second);
    }(host, static_cast<std::uint16_t>(std::stoi(port))));
  }
}

TEST(InteropTest, OurClientPythonServerUnix) {
  nettest::TempDir dir;
  std::string path = dir.file("py.sock");
  auto [py, ready] = python_server({"server", "unix", "--path", path});
  ASSERT_EQ(ready, path);
  nettest::run([](std::string path) -> Coro<> {
    auto rw = co_await asyncio::open_unix_connection(path);
    co_await client_session(rw.first, rw.second);
  }(path));
}

TEST(InteropTest, OurClientPythonServerTls) {
  ASSERT_TRUE(certs().ok);
  auto [py, port] = python_server({"server", "tls", "--cert", certs().cert, "--key", certs().key});
  ASSERT_FALSE(port.empty());
  nettest::run([](std::uint16_t port) -> Coro<> {
    auto ctx = asyncio::SSLContext::create_default_context(asyncio::Purpose::SERVER_AUTH, certs().ca_cert);
    asyncio::ConnectionOptions opts{.ssl = ctx};
    auto rw = co_await asyncio::open_connection("localhost", port, opts);
    co_await client_session(rw.first, rw.second);
  }(static_cast<std::uint16_t>(std::stoi(port))));
}

TEST(InteropTest, OurClientPythonServerUnixTls) {
  ASSERT_TRUE(certs().ok);
  nettest::TempDir dir;
  std::string path = dir.file("pytls.sock");
  auto [py, ready] = python_server({"server", "unix-tls", "--path", path, "--cert", certs().cert, "--key", certs().key});
  ASSERT_EQ(ready, path);
  nettest::run([](std::string path) -> Coro<> {
    auto ctx = asyncio::SSLContext::create_default_context(asyncio::Purpose::SERVER_AUTH, certs().ca_cert);
    asyncio::UnixConnectionOptions opts{.ssl = ctx, .server_hostname = "localhost"};
    auto rw = co_await asyncio::open_unix_connection(path, opts);
    co_await client_session(rw.first, rw.second);
  }(path));
}

TEST(InteropTest, OurClientPythonServerUdp) {
  auto [py, port] = python_server({"server", "udp"});
  ASSERT_FALSE(port.empty());
  struct Client : asyncio::DatagramProtocol {
    std::string got;
    void datagram_received(std::span<const std::byte> d, const asyncio::SockAddr&) override {
      got.assign(reinterpret_cast<const char*>(d.data()), d.size());
    }
  };
  nettest::run([](std::uint16_t port) -> Coro<> {
    asyncio::DatagramOptions opts{.remote_addr = asyncio::HostPort{"127.0.0.1", port}};
    auto tp = co_await asyncio::create_datagram_endpoint([] { return std::make_shared<Client>(); }, opts);
    for (int i = 0; i < 100 && tp.second->got.empty(); ++i) {
      tp.first->sendto("hello from C++ udp");
      co_await asyncio::sleep(0.02s);
    }
    EXPECT_EQ(tp.second->got, "echo: hello from C++ udp");
    tp.first->close();
  }(static_cast<std::uint16_t>(std::stoi(port))));
}

// ---- Python's asyncio client against our server ----------------------------------------------

TEST(InteropTest, PythonClientOurServerTcp) {
  for (std::string host : {"127.0.0.1", "::1"}) {
    auto [status, out] = serve_python_client(
        [host]() -> Coro<std::pair<asyncio::Server, std::vector<std::string>>> {
          auto s = co_await asyncio::start_server(protocol_handler, host, 0);
          std::string port = std::to_string(s.sockets().at(0).getsockname().port());
          co_return std::pair{s, std::vector<std::string>{"--host", host, "--port", port}};
        },
        {"client", "tcp"});
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("echo: hello from python"), std::string::npos) << out;
    EXPECT_NE(out.find("digest ok"), std::string::npos) << out;
  }
}

TEST(InteropTest, PythonClientOurServerUnix) {
  nettest::TempDir dir;
  std::string path = dir.file("ours.sock");
  auto [status, out] = serve_python_client(
      [path]() -> Coro<std::pair<asyncio::Server, std::vector<std::string>>> {
        auto s = co_await asyncio::start_unix_server(protocol_handler, path);
        co_return std::pair{s, std::vector<std::string>{"--path", path}};
      },
      {"client", "unix"});
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("digest ok"), std::string::npos) << out;
}

TEST(InteropTest, PythonClientOurServerTls) {
  ASSERT_TRUE(certs().ok);
  auto [status, out] = serve_python_client(
      []() -> Coro<std::pair<asyncio::Server, std::vector<std::string>>> {
        auto ctx = std::make_shared<asyncio::SSLContext>(asyncio::SSLContext::TLS_SERVER);
        ctx->load_cert_chain(certs().cert, certs().key);
        auto s = co_await asyncio::start_server(protocol_handler, "127.0.0.1", 0, {.ssl = ctx});
        std::string port = std::to_string(s.sockets().at(0).getsockname().port());
        co_return std::pair{s, std::vector<std::string>{"--host", "localhost", "--port", port, "--ca", certs().ca_cert}};
      },
      {"client", "tls"});
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("echo: hello from python"), std::string::npos) << out;
  EXPECT_NE(out.find("digest ok"), std::string::npos) << out;
}

TEST(InteropTest, PythonClientOurServerUdp) {
  struct Echo : asyncio::DatagramProtocol {
    asyncio::DatagramTransport* t = nullptr;
    void connection_made(asyncio::DatagramTransport& tr) override { t = &tr; }
    void datagram_received(std::span<const std::byte> d, const asyncio::SockAddr& from) override {
      t->sendto("echo: " + std::string(reinterpret_cast<const char*>(d.data()), d.size()), from);
    }
  };
  asyncio::Runner runner;
  auto tp = runner.run([]() -> Coro<std::pair<std::shared_ptr<asyncio::DatagramTransport>, std::shared_ptr<Echo>>> {
    asyncio::DatagramOptions opts{.local_addr = asyncio::HostPort{"127.0.0.1", 0}};
    co_return co_await asyncio::create_datagram_endpoint([] { return std::make_shared<Echo>(); }, opts);
  }());
  std::string port = std::to_string(tp.first->extra<asyncio::SockAddr>("sockname")->port());
  auto client = nettest::python_peer("asyncio_peer.py", {"client", "udp", "--port", port}, true);
  pid_t pid = client->pid();
  int status = -1;
  std::string out = runner.run([](nettest::Process& p, pid_t pid, int& status) -> Coro<std::string> {
    for (int i = 0; i < 3000; ++i) {
      int st = 0;
      if (::waitpid(pid, &st, WNOHANG) == pid) {
        status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        co_return p.read_all(1s);
      }
      co_await asyncio::sleep(0.01s);
    }
    co_return std::string();
  }(*client, pid, status));
  if (status >= 0) client->reaped();
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("echo: hello udp"), std::string::npos) << out;
  tp.first->close();
}

// ---- HTTP --------------------------------------------------------------------------------------

TEST(InteropTest, OurHttpClientAgainstPythonHttpServer) {
  nettest::TempDir dir;
  {
    FILE* f = std::fopen(dir.file("hello.txt").c_str(), "w");
    std::fputs("hello from http.server\n", f);
    std::fclose(f);
  }
  std::vector<std::string> argv = nettest::python_argv();
  for (std::string a : {"-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory"}) argv.push_back(a);
  argv.push_back(dir.path());
  nettest::Process srv(argv, /*merge_stderr=*/false);
  std::uint16_t port = 0;
  if (auto line = srv.read_line(30s)) {
    // "Serving HTTP on 127.0.0.1 port 12345 (http://127.0.0.1:12345/) ..."
    auto pos = line->find(" port ");
    if (pos != std::string::npos) port = static_cast<std::uint16_t>(std::stoi(line->substr(pos + 6)));
  }
  ASSERT_NE(port, 0) << "http.server did not start";
  nettest::run([](std::uint16_t port) -> Coro<> {
    auto rw = co_await asyncio::open_connection("127.0.0.1", port);
    auto& [r, w] = rw;
    w.write("GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    co_await w.drain();
    std::string status = co_await r.readline();
    EXPECT_TRUE(status.starts_with("HTTP/1.0 200") || status.starts_with("HTTP/1.1 200")) << status;
    std::size_t length = 0;
    while (true) {
      std::string h = co_await r.readline();
      if (h == "\r\n" || h.empty()) break;
      if (h.starts_with("Content-Length:")) length = std::stoul(h.substr(15));
    }
    EXPECT_EQ(length, 23u);
    EXPECT_EQ(co_await r.readexactly(length), "hello from http.server\n");
    w.close();
  }(port));
}

TEST(InteropTest, CurlAgainstOurHttpServer) {
  if (!nettest::command_works("curl --version")) GTEST_SKIP() << "curl not installed (scripts/install-deps.sh)";
  std::string exe = std::string(ASYNCIO_EXAMPLES_DIR) + "/http_fetch";
  nettest::Process srv({exe, "--serve"}, /*merge_stderr=*/false, /*stdin_pipe=*/true);
  auto line = srv.read_line(30s);
  ASSERT_TRUE(line && line->starts_with("READY ")) << "http_fetch --serve did not start";
  std::string port = line->substr(6);
  nettest::Process curl({"curl", "-sS", "--max-time", "10", "-i", "http://127.0.0.1:" + port + "/hello"},
                        /*merge_stderr=*/true);
  std::string out = curl.read_all(15s);
  EXPECT_EQ(curl.wait(), 0) << out;
  EXPECT_NE(out.find("200 OK"), std::string::npos) << out;
  EXPECT_NE(out.find("Hello from asyncio for C++"), std::string::npos) << out;
  nettest::Process curl404({"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
                            "http://127.0.0.1:" + port + "/missing"},
                           true);
  EXPECT_EQ(curl404.read_all(15s), "404");
  srv.close_stdin();  // --serve stops at stdin EOF
  EXPECT_EQ(srv.wait(10s), 0);
}
