// Tests of sock_sendfile() and sendfile() (Python: loop.sock_sendfile, loop.sendfile) over real
// sockets, pipes, files and a TLS connection. The expected values come from the same program
// run under CPython 3.12.1 (quoted in the comments).

#include "asyncio/sendfile.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "asyncio/asyncio.hpp"
#include "net_helpers.hpp"

namespace {

using asyncio::Coro;
using asyncio::Socket;

/// 1,024,000 bytes: bytes(range(256)) * 4000, as the Python program.
std::string test_data() {
  std::string d;
  d.reserve(256 * 4000);
  for (int i = 0; i < 4000; ++i)
    for (int b = 0; b < 256; ++b) d.push_back(static_cast<char>(b));
  return d;
}

/// A temporary file holding `data`, opened read-only.
struct TempFile {
  nettest::TempDir dir;
  int fd = -1;
  explicit TempFile(const std::string& data) {
    std::string path = dir.file("f.bin");
    int w = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    EXPECT_EQ(::write(w, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ::close(w);
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  ~TempFile() { ::close(fd); }
  off_t tell() const { return ::lseek(fd, 0, SEEK_CUR); }
};

Coro<std::string> recv_all(int fd, std::size_t n) {
  std::string out;
  while (out.size() < n) {
    std::string d = co_await asyncio::sock_recv(fd, 65536);
    if (d.empty()) break;
    out += d;
  }
  co_return out;
}

template <class F>
Coro<std::string> error_of(F f) {
  try {
    (void)co_await f();
  } catch (const asyncio::ValueError& e) {
    co_return std::string("ValueError ") + e.what();
  } catch (const asyncio::SendfileNotAvailableError& e) {
    co_return std::string("SendfileNotAvailableError ") + e.what();
  } catch (const asyncio::RuntimeError& e) {
    co_return std::string("RuntimeError ") + e.what();
  }
  co_return "";
}

// Python: whole 1024000 1024000 True / slice 1000 1100 True
TEST(SockSendfileTest, WholeFileThenASliceWithPythonsFilePosition) {
  std::string data = test_data();
  TempFile file(data);
  nettest::run([](const std::string& data, TempFile& file) -> Coro<> {
    auto [a, b] = asyncio::socketpair();
    auto reader = asyncio::create_task(recv_all(b.fd(), data.size()));
    std::size_t n = co_await asyncio::sock_sendfile(a.fd(), file.fd);
    EXPECT_EQ(n, data.size());
    EXPECT_EQ(file.tell(), static_cast<off_t>(data.size()));
    EXPECT_TRUE(co_await reader == data);
    auto reader2 = asyncio::create_task(recv_all(b.fd(), 1000));
    n = co_await asyncio::sock_sendfile(a.fd(), file.fd, 100, 1000);
    EXPECT_EQ(n, 1000u);
    EXPECT_EQ(file.tell(), 1100);
    EXPECT_TRUE(co_await reader2 == data.substr(100, 1000));
  }(data, file));
}

// Python:
//   ValueError offset must be a non-negative integer (got -1)
//   ValueError count must be a positive integer (got 0)
//   ValueError count must be a positive integer (got -5)
//   ValueError only SOCK_STREAM type sockets are supported
TEST(SockSendfileTest, PythonsArgumentChecks) {
  TempFile file("abc");
  nettest::run([](int f) -> Coro<> {
    auto [a, b] = asyncio::socketpair();
    int s = a.fd();
    EXPECT_EQ(co_await error_of([&] { return asyncio::sock_sendfile(s, f, -1); }),
              "ValueError offset must be a non-negative integer (got -1)");
    EXPECT_EQ(co_await error_of([&] { return asyncio::sock_sendfile(s, f, 0, 0); }),
              "ValueError count must be a positive integer (got 0)");
    EXPECT_EQ(co_await error_of([&] { return asyncio::sock_sendfile(s, f, 0, -5); }),
              "ValueError count must be a positive integer (got -5)");
    Socket u = Socket::create(AF_INET, SOCK_DGRAM);
    int ufd = u.fd();
    EXPECT_EQ(co_await error_of([&] { return asyncio::sock_sendfile(ufd, f); }),
              "ValueError only SOCK_STREAM type sockets are supported");
  }(file.fd));
}

// Python: a pipe has st_size 0: "pipe native-empty 0"; with a count, native sendfile(2)
// fails: "SendfileNotAvailableError os.sendfile call failed" with fallback=False; with the
// fallback the bytes are read and sent (Python then fails seeking the pipe with
// io.UnsupportedOperation; we leave an unseekable file's position alone).
TEST(SockSendfileTest, PipeFallsBackToReadAndSend) {
  nettest::run([]() -> Coro<> {
    int p[2];
    CO_ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    CO_ASSERT_EQ(::write(p[1], "pipe-data", 9), 9);
    ::close(p[1]);
    auto [a, b] = asyncio::socketpair();
    int s = a.fd(), r = p[0];
    EXPECT_EQ(co_await asyncio::sock_sendfile(s, r), 0u);
    EXPECT_EQ(co_await error_of([&] { return asyncio::sock_sendfile(s, r, 0, 4, false); }),
              "SendfileNotAvailableError os.sendfile call failed");
    EXPECT_EQ(co_await asyncio::sock_sendfile(s, r, 0, 4), 4u);
    EXPECT_EQ(co_await recv_all(b.fd(), 4), "pipe");
    ::close(r);
  }());
}

TEST(SockSendfileTest, PeerGoneAfterSomeBytesIsAnOSErrorAndThePositionSaysWhatWent) {
  std::string data = test_data();
  TempFile file(data);
  nettest::run([](TempFile& file) -> Coro<> {
    auto [a, b] = asyncio::socketpair();
    int bfd = b.fd();
    // Read a little, then close: the sender fails with EPIPE/ECONNRESET mid-way.
    auto closer = asyncio::create_task([](Socket b) -> Coro<> {
      (void)co_await asyncio::sock_recv(b.fd(), 1000);
      b.close();
    }(std::move(b)));
    (void)bfd;
    bool raised = false;
    try {
      (void)co_await asyncio::sock_sendfile(a.fd(), file.fd);
    } catch (const asyncio::OSError&) {
      raised = true;
    }
    EXPECT_TRUE(raised);
    co_await closer;
    off_t pos = file.tell();
    EXPECT_GT(pos, 0);
    EXPECT_LT(pos, static_cast<off_t>(1024000));
  }(file));
}

TEST(SockSendfileTest, CancelledMidwayLeavesThePositionAfterWhatWasSent) {
  std::string data = test_data();
  TempFile file(data);
  nettest::run([](TempFile& file) -> Coro<> {
    auto [a, b] = asyncio::socketpair();
    auto t = asyncio::create_task(asyncio::sock_sendfile(a.fd(), file.fd));
    // Nobody reads: the socket buffer fills and the send waits.
    co_await asyncio::sleep(std::chrono::milliseconds(50));
    EXPECT_FALSE(t.done());
    t.cancel();
    try {
      (void)co_await t;
    } catch (const asyncio::CancelledError&) {
    }
    off_t pos = file.tell();
    EXPECT_GT(pos, 0);
    EXPECT_LT(pos, static_cast<off_t>(1024000));
    std::string got = co_await recv_all(b.fd(), static_cast<std::size_t>(pos));
    EXPECT_EQ(got.size(), static_cast<std::size_t>(pos));
  }(file));
}

// Python: "RuntimeError unable to write; sendfile is in progress" / "transport 500000 500010"
// / the server got b'head' + data[10:500010] + b'tail'.
TEST(TransportSendfileTest, NativeOverTcpWithWritesBeforeAndAfter) {
  std::string data = test_data();
  TempFile file(data);
  nettest::run([](const std::string& data, TempFile& file) -> Coro<> {
    auto got = std::make_shared<std::string>();
    auto done = std::make_shared<asyncio::Event>();
    // Named, not a temporary in the co_await: g++ 12 destroys such temporaries (this
    // callback's captured shared_ptrs) twice.
    asyncio::ClientConnectedCallback handler = [got, done](asyncio::StreamReader r,
                                                           asyncio::StreamWriter w) -> Coro<> {
      *got = co_await r.read();
      done->set();
      w.close();
    };
    asyncio::Server server = co_await asyncio::start_server(handler, "127.0.0.1", 0);
    std::uint16_t port = server.sockets()[0].getsockname().port();
    auto [rd, wr] = co_await asyncio::open_connection("127.0.0.1", port);
    wr.write("head");
    auto task = asyncio::create_task(asyncio::sendfile(wr.transport(), file.fd, 10, 500000));
    co_await asyncio::sleep(std::chrono::seconds(0));
    try {
      wr.write("x");
      ADD_FAILURE() << "write during sendfile did not throw";
    } catch (const asyncio::RuntimeError& e) {
      EXPECT_STREQ(e.what(), "unable to write; sendfile is in progress");
    }
    EXPECT_EQ(co_await task, 500000u);
    EXPECT_EQ(file.tell(), 500010);
    wr.write("tail");
    wr.close();
    co_await wr.wait_closed();
    co_await done->wait();
    EXPECT_TRUE(*got == "head" + data.substr(10, 500000) + "tail");
    server.close();
    co_await server.wait_closed();
  }(data, file));
}

TEST(TransportSendfileTest, ClosingTransportAndDisabledFallback) {
  TempFile file("abc");
  nettest::run([](int f) -> Coro<> {
    auto [a, b] = asyncio::socketpair();
    auto [rd, wr] = co_await asyncio::open_connection(std::move(a));
    std::shared_ptr<asyncio::Transport> t = wr.transport();
    // A pipe cannot be sent natively: with fallback=false the SendfileNotAvailableError.
    int p[2];
    CO_ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    ::close(p[1]);
    EXPECT_EQ(co_await error_of([&] { return asyncio::sendfile(t, p[0], 0, 3, false); }),
              "SendfileNotAvailableError os.sendfile call failed");
    ::close(p[0]);
    // The transport works normally afterwards (reading resumed, writes allowed).
    wr.write("ok");
    co_await wr.drain();
    EXPECT_EQ(co_await asyncio::sock_recv(b.fd(), 10), "ok");
    co_await asyncio::sock_sendall(b.fd(), "in");
    EXPECT_EQ(co_await rd.read(2), "in");
    wr.close();
    // Python: RuntimeError("Transport is closing").
    EXPECT_EQ(co_await error_of([&] { return asyncio::sendfile(t, f); }),
              "RuntimeError Transport is closing");
    co_await wr.wait_closed();
  }(file.fd));
}

// Python: a TLS transport is _sendfile_compatible = FALLBACK: the file goes through
// transport.write() (flow-controlled), the protocol comes back afterwards; fallback=False is
// RuntimeError("fallback is disabled and native sendfile is not supported for transport ...").
TEST(TransportSendfileTest, TlsUsesTheFallbackWithFlowControl) {
  static nettest::TestCerts* certs = new nettest::TestCerts();
  if (!certs->ok) GTEST_SKIP() << "openssl could not make test certificates";
  std::string data = test_data();
  TempFile file(data);
  nettest::run([](const std::string& data, TempFile& file) -> Coro<> {
    auto server_ctx = std::make_shared<asyncio::SSLContext>(asyncio::SSLContext::TLS_SERVER);
    server_ctx->load_cert_chain(certs->cert, certs->key);
    auto client_ctx =
        asyncio::SSLContext::create_default_context(asyncio::Purpose::SERVER_AUTH, certs->ca_cert);
    auto got = std::make_shared<std::string>();
    auto done = std::make_shared<asyncio::Event>();
    // Named, not a temporary in the co_await: g++ 12 destroys such temporaries (this
    // callback's captured shared_ptrs) twice.
    asyncio::ClientConnectedCallback handler = [got, done](asyncio::StreamReader r,
                                                           asyncio::StreamWriter w) -> Coro<> {
      // Read slowly at first so that the sender's flow control engages.
      co_await asyncio::sleep(std::chrono::milliseconds(50));
      *got = co_await r.read();
      done->set();
      w.close();
    };
    asyncio::Server server =
        co_await asyncio::start_server(handler, "127.0.0.1", 0, {.ssl = server_ctx});
    std::uint16_t port = server.sockets()[0].getsockname().port();
    auto [rd, wr] = co_await asyncio::open_connection(
        "127.0.0.1", port, {.ssl = client_ctx, .server_hostname = "localhost"});
    std::shared_ptr<asyncio::Transport> t = wr.transport();
    auto before = t->get_protocol();
    std::string err =
        co_await error_of([&] { return asyncio::sendfile(t, file.fd, 0, 10, false); });
    EXPECT_EQ(err.rfind("RuntimeError fallback is disabled and native sendfile is not supported "
                        "for transport ",
                        0),
              0u)
        << err;
    auto sending = asyncio::sendfile(t, file.fd, 5);  // named: see the g++ 12 note in net.hpp
    EXPECT_EQ(co_await std::move(sending), data.size() - 5);
    EXPECT_EQ(file.tell(), static_cast<off_t>(data.size()));
    EXPECT_EQ(t->get_protocol(), before);  // restored
    wr.write("!");
    co_await wr.drain();
    wr.close();
    co_await wr.wait_closed();
    co_await done->wait();
    EXPECT_TRUE(*got == data.substr(5) + "!");
    server.close();
    co_await server.wait_closed();
  }(data, file));
}

// Python 3.12.1 hangs here (its _call_connection_lost finds the empty waiter already done:
// InvalidStateError); what it means to do, and what we do: the sendfile fails with a
// ConnectionError and the socket is closed.
TEST(TransportSendfileTest, ClosingTheTransportDuringANativeSendfileFailsIt) {
  std::string data = test_data() + test_data() + test_data() + test_data();
  TempFile file(data);
  int fds_before = nettest::count_fds();
  nettest::run([](TempFile& file) -> Coro<> {
    auto [a, b] = asyncio::socketpair();
    int afd = a.fd();
    auto [rd, wr] = co_await asyncio::open_connection(std::move(a));
    // Nobody reads `b`: the send waits for writability.
    auto task = asyncio::create_task(asyncio::sendfile(wr.transport(), file.fd));
    co_await asyncio::sleep(std::chrono::milliseconds(100));
    EXPECT_FALSE(task.done());
    wr.close();
    bool failed = false;
    try {
      (void)co_await asyncio::wait_for(task, std::chrono::seconds(5));
    } catch (const asyncio::ConnectionError&) {
      failed = true;
    }
    EXPECT_TRUE(failed);
    co_await wr.wait_closed();
    EXPECT_EQ(::fcntl(afd, F_GETFD), -1);  // closed
  }(file));
  EXPECT_EQ(nettest::count_fds(), fds_before);
}

}  // namespace
