// Tests of socket interop (Python: socket.socketpair(), open_connection/start_server/
// open_unix_connection/start_unix_server/create_*(sock=...)) and of the uniform options style
// (designated-initializer option structs as the last argument of every function taking
// Python keyword arguments). Expected texts come from CPython 3.12.1 (see the comments).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "asyncio/asyncio.hpp"
#include "asyncio/subprocess.hpp"
#include "net_helpers.hpp"

namespace {

using asyncio::Coro;
using asyncio::Socket;
using asyncio::ValueError;

/// The ValueError message `coro` throws ("" when it does not throw one).
Coro<std::string> value_error_of(Coro<void> coro) {
  try {
    co_await std::move(coro);
  } catch (const ValueError& e) {
    co_return e.what();
  }
  co_return "";
}

struct Nop : asyncio::Protocol {};
auto nop_factory() {
  return [] { return std::make_shared<Nop>(); };
}

TEST(SocketPairTest, ConnectedNonBlockingCloexecUnixStreamPair) {
  auto [a, b] = asyncio::socketpair();
  ASSERT_TRUE(a && b);
  // Python: socket.socketpair() is AF_UNIX, SOCK_STREAM (family=1, type=1).
  EXPECT_EQ(a.family(), AF_UNIX);
  EXPECT_EQ(a.type(), SOCK_STREAM);
  EXPECT_NE(::fcntl(a.fd(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(b.fd(), F_GETFD) & FD_CLOEXEC, 0);
  // Python: repr(a) == '<socket.socket fd=5, family=1, type=1, proto=0>' (no laddr: unnamed).
  EXPECT_EQ(asyncio::socket_repr(a),
            "<socket.socket fd=" + std::to_string(a.fd()) + ", family=1, type=1, proto=0>");
  nettest::run([](Socket a, Socket b) -> Coro<> {
    co_await asyncio::sock_sendall(a.fd(), "ping");
    EXPECT_EQ(co_await asyncio::sock_recv(b.fd(), 10), "ping");
    a.close();
    EXPECT_EQ(co_await asyncio::sock_recv(b.fd(), 10), "");  // EOF
  }(std::move(a), std::move(b)));
}

TEST(SocketPairTest, DatagramPairAndBadFamily) {
  auto [a, b] = asyncio::socketpair(AF_UNIX, SOCK_DGRAM);
  EXPECT_EQ(b.type(), SOCK_DGRAM);
  // Python: socket.socketpair(socket.AF_INET) → OSError [Errno 95] Operation not supported.
  try {
    (void)asyncio::socketpair(AF_INET, SOCK_STREAM);
    ADD_FAILURE() << "no error";
  } catch (const asyncio::OSError& e) {
    EXPECT_EQ(e.code().value(), EOPNOTSUPP);
  }
}

TEST(SocketReprTest, PythonsReprOfInetSockets) {
  Socket s = Socket::create(AF_INET, SOCK_DGRAM);
  int fd = s.fd();
  // Python: <socket.socket fd=3, family=2, type=2, proto=0, laddr=('0.0.0.0', 0)>
  EXPECT_EQ(asyncio::socket_repr(s), "<socket.socket fd=" + std::to_string(fd) +
                                         ", family=2, type=2, proto=0, laddr=('0.0.0.0', 0)>");
  s.bind(asyncio::SockAddr::inet("127.0.0.1", 0));
  std::uint16_t port = s.getsockname().port();
  ASSERT_EQ(::connect(fd, asyncio::SockAddr::inet("127.0.0.1", 9).data(),
                      asyncio::SockAddr::inet("127.0.0.1", 9).size()),
            0);
  EXPECT_EQ(asyncio::socket_repr(s), "<socket.socket fd=" + std::to_string(fd) +
                                         ", family=2, type=2, proto=0, laddr=('127.0.0.1', " +
                                         std::to_string(port) + "), raddr=('127.0.0.1', 9)>");
  Socket closed;
  EXPECT_EQ(asyncio::socket_repr(closed),
            "<socket.socket [closed] fd=-1, family=0, type=0, proto=0>");
}

// Python 3.12.1:
//   open_connection(sock=a): reader/writer over the socket; b.send(b'hi\n') → b'hi\n'
TEST(SockArgTest, OpenConnectionOverOneEndOfASocketPair) {
  nettest::run([]() -> Coro<> {
    auto [a, b] = asyncio::socketpair();
    int afd = a.fd();
    auto [reader, writer] = co_await asyncio::open_connection(std::move(a));
    EXPECT_EQ(writer.transport()->get_extra_info("socket").has_value(), true);
    co_await asyncio::sock_sendall(b.fd(), "hi\n");
    EXPECT_EQ(co_await reader.readline(), "hi\n");
    writer.write("back");
    co_await writer.drain();
    EXPECT_EQ(co_await asyncio::sock_recv(b.fd(), 10), "back");
    writer.close();
    co_await writer.wait_closed();
    // The transport owned the fd and closed it.
    EXPECT_EQ(::fcntl(afd, F_GETFD), -1);
    EXPECT_EQ(co_await asyncio::sock_recv(b.fd(), 10), "");
  }());
}

TEST(SockArgTest, OpenUnixConnectionOverASocketPairWithALimit) {
  nettest::run([]() -> Coro<> {
    auto [a, b] = asyncio::socketpair();
    auto [reader, writer] = co_await asyncio::open_unix_connection(std::move(a), {}, 4);
    EXPECT_EQ(reader.limit(), 4u);
    co_await asyncio::sock_sendall(b.fd(), "line\n");
    EXPECT_EQ(co_await reader.readexactly(5), "line\n");
    writer.close();
    co_await writer.wait_closed();
  }());
}

TEST(SockArgTest, StartServerOnABoundSocketServesStreams) {
  nettest::run([]() -> Coro<> {
    Socket listener = Socket::create(AF_INET, SOCK_STREAM);
    listener.bind(asyncio::SockAddr::inet("127.0.0.1", 0));
    std::uint16_t port = listener.getsockname().port();
    asyncio::Server server = co_await asyncio::start_server(
        [](asyncio::StreamReader r, asyncio::StreamWriter w) -> Coro<> {
          std::string line = co_await r.readline();
          w.write("echo:" + line);
          co_await w.drain();
          w.close();
        },
        std::move(listener), {.backlog = 5});
    EXPECT_TRUE(server.is_serving());
    CO_ASSERT_EQ(server.sockets().size(), 1u);
    EXPECT_EQ(server.sockets()[0].getsockname().port(), port);
    auto [r, w] = co_await asyncio::open_connection("127.0.0.1", port);
    w.write("x\n");
    EXPECT_EQ(co_await r.read(), "echo:x\n");
    w.close();
    co_await w.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST(SockArgTest, StartUnixServerOnABoundUnixSocket) {
  nettest::TempDir dir;
  std::string path = dir.file("s.sock");
  nettest::run([](std::string path) -> Coro<> {
    Socket listener = Socket::create(AF_UNIX, SOCK_STREAM);
    listener.bind(asyncio::SockAddr::unix_path(path));
    asyncio::Server server = co_await asyncio::start_unix_server(
        [](asyncio::StreamReader r, asyncio::StreamWriter w) -> Coro<> {
          w.write(co_await r.readline());
          co_await w.drain();
          w.close();
        },
        std::move(listener));
    Socket client = Socket::create(AF_UNIX, SOCK_STREAM);
    co_await asyncio::sock_connect(client.fd(), asyncio::SockAddr::unix_path(path));
    // open_unix_connection(sock=) over the connected client socket.
    auto [r, w] = co_await asyncio::open_unix_connection(std::move(client));
    w.write("u\n");
    EXPECT_EQ(co_await r.read(), "u\n");
    w.close();
    co_await w.wait_closed();
    server.close();
    co_await server.wait_closed();
  }(path));
}

TEST(SockArgTest, CreateUnixConnectionAndServerWithSock) {
  nettest::run([]() -> Coro<> {
    struct Echo : asyncio::Protocol {
      asyncio::Transport* t = nullptr;
      void connection_made(asyncio::Transport& tr) override { t = &tr; }
      void data_received(std::span<const std::byte> d) override { t->write(d); }
    };
    auto [a, b] = asyncio::socketpair();
    auto [transport, protocol] = co_await asyncio::create_unix_connection(
        [] { return std::make_shared<Echo>(); }, std::move(a));
    co_await asyncio::sock_sendall(b.fd(), "abc");
    EXPECT_EQ(co_await asyncio::sock_recv(b.fd(), 10), "abc");
    transport->close();
  }());
}

// Python 3.12.1 messages (see the comment of each).
TEST(SockArgTest, PythonsChecksAndMessages) {
  nettest::run([]() -> Coro<> {
    Socket dgram = Socket::create(AF_INET, SOCK_DGRAM);
    std::string r = asyncio::socket_repr(dgram);
    // loop.create_connection(P, sock=<dgram>) →
    //   ValueError: A Stream Socket was expected, got <socket.socket fd=11, family=2, ...>
    EXPECT_EQ(co_await value_error_of([](Socket s) -> Coro<> {
                (void)co_await asyncio::create_connection(nop_factory(), std::move(s));
              }(std::move(dgram))),
              "A Stream Socket was expected, got " + r);
    // loop.create_connection(P) → host and port was not specified and no sock specified
    EXPECT_EQ(co_await value_error_of([]() -> Coro<> {
                (void)co_await asyncio::create_connection(nop_factory(), Socket());
              }()),
              "host and port was not specified and no sock specified");
    // loop.create_server(P) → Neither host/port nor sock were specified
    EXPECT_EQ(co_await value_error_of([]() -> Coro<> {
                (void)co_await asyncio::create_server(nop_factory(), Socket());
              }()),
              "Neither host/port nor sock were specified");
    Socket dgram2 = Socket::create(AF_INET, SOCK_DGRAM);
    std::string r2 = asyncio::socket_repr(dgram2);
    EXPECT_EQ(co_await value_error_of([](Socket s) -> Coro<> {
                (void)co_await asyncio::start_server(
                    [](asyncio::StreamReader, asyncio::StreamWriter) -> Coro<> { co_return; },
                    std::move(s));
              }(std::move(dgram2))),
              "A Stream Socket was expected, got " + r2);
    // loop.create_unix_connection(P) → no path and sock were specified
    EXPECT_EQ(co_await value_error_of([]() -> Coro<> {
                (void)co_await asyncio::create_unix_connection(nop_factory(), Socket());
              }()),
              "no path and sock were specified");
    // loop.create_unix_server(P) → path was not specified, and no sock specified
    EXPECT_EQ(co_await value_error_of([]() -> Coro<> {
                (void)co_await asyncio::create_unix_server(nop_factory(), Socket());
              }()),
              "path was not specified, and no sock specified");
    // loop.create_unix_connection(P, sock=socket.socket()) →
    //   A UNIX Domain Stream Socket was expected, got <socket.socket fd=11, family=2, type=1, ...>
    Socket tcp = Socket::create(AF_INET, SOCK_STREAM);
    std::string r3 = asyncio::socket_repr(tcp);
    EXPECT_EQ(co_await value_error_of([](Socket s) -> Coro<> {
                (void)co_await asyncio::open_unix_connection(std::move(s));
              }(std::move(tcp))),
              "A UNIX Domain Stream Socket was expected, got " + r3);
    Socket tcp2 = Socket::create(AF_INET, SOCK_STREAM);
    std::string r4 = asyncio::socket_repr(tcp2);
    EXPECT_EQ(co_await value_error_of([](Socket s) -> Coro<> {
                (void)co_await asyncio::start_unix_server(
                    [](asyncio::StreamReader, asyncio::StreamWriter) -> Coro<> { co_return; },
                    std::move(s));
              }(std::move(tcp2))),
              "A UNIX Domain Stream Socket was expected, got " + r4);
  }());
}

TEST(SockArgTest, RejectedSocketsAreClosedNoFdLeak) {
  int before = nettest::count_fds();
  nettest::run([]() -> Coro<> {
    for (int i = 0; i < 5; ++i) {
      try {
        (void)co_await asyncio::create_connection(nop_factory(),
                                                  Socket::create(AF_INET, SOCK_DGRAM));
      } catch (const ValueError&) {
      }
      try {
        (void)co_await asyncio::open_unix_connection(Socket::create(AF_INET, SOCK_STREAM));
      } catch (const ValueError&) {
      }
    }
  }());
  EXPECT_EQ(nettest::count_fds(), before);
}

// ---- One options style --------------------------------------------------------------------

TEST(OptionsStyleTest, BracedOptionsAfterExecArgumentsOneByOne) {
  nettest::run([]() -> Coro<> {
    // Python: await asyncio.create_subprocess_exec('echo', 'a', 'b', stdout=PIPE)
    asyncio::Process p =
        co_await asyncio::create_subprocess_exec("echo", "a", "b", {.stdout = asyncio::PIPE});
    EXPECT_EQ(co_await p.stdout->read(), "a b\n");
    EXPECT_EQ(co_await p.wait(), 0);
    // No arguments, only options (Python: create_subprocess_exec('pwd', cwd='/', stdout=PIPE)).
    asyncio::Process q =
        co_await asyncio::create_subprocess_exec("pwd", {.stdout = asyncio::PIPE, .cwd = "/"});
    EXPECT_EQ(co_await q.stdout->read(), "/\n");
    EXPECT_EQ(co_await q.wait(), 0);
    // std::string arguments mixed with literals.
    std::string arg = "x y";
    asyncio::Process r = co_await asyncio::create_subprocess_exec(
        std::string("printf"), "%s|", arg, std::string_view("z"), {.stdout = asyncio::PIPE});
    EXPECT_EQ(co_await r.stdout->read(), "x y|z|");
    EXPECT_EQ(co_await r.wait(), 0);
    // The existing forms still compile and mean what they meant.
    asyncio::Process s = co_await asyncio::create_subprocess_exec(
        "echo", asyncio::SubprocessOptions{.stdout = asyncio::PIPE});
    EXPECT_EQ(co_await s.stdout->read(), "\n");
    co_await s.wait();
    std::vector<std::string> args{"-c", "echo $0", "v"};
    asyncio::Process t =
        co_await asyncio::create_subprocess_exec("sh", std::move(args), {.stdout = asyncio::PIPE});
    EXPECT_EQ(co_await t.stdout->read(), "v\n");
    co_await t.wait();
    asyncio::Process u =
        co_await asyncio::create_subprocess_shell("echo sh", {.stdout = asyncio::PIPE});
    EXPECT_EQ(co_await u.stdout->read(), "sh\n");
    co_await u.wait();
  }());
}

TEST(OptionsStyleTest, LowLevelSubprocessExecTakesBracedOptionsToo) {
  nettest::run([]() -> Coro<> {
    struct Collect : asyncio::SubprocessProtocol {
      std::string out;
      void pipe_data_received(int, std::span<const std::byte> d) override {
        out += asyncio::Protocol::as_chars(d);
      }
    };
    auto [transport, protocol] = co_await asyncio::subprocess_exec(
        [] { return std::make_shared<Collect>(); }, "echo", "low", {.stderr = asyncio::DEVNULL});
    EXPECT_EQ(co_await transport->wait(), 0);
    co_await asyncio::sleep(std::chrono::milliseconds(50));
    EXPECT_EQ(protocol->out, "low\n");
    transport->close();
  }());
}

/// Compiles `body` (inside a coroutine) against the library headers with the system g++ and
/// returns the diagnostics, or nullopt when it compiled.
std::optional<std::string> compile_errors(const std::string& body) {
  nettest::TempDir dir;
  std::string src = dir.file("t.cpp");
  {
    FILE* f = std::fopen(src.c_str(), "w");
    std::string code =
        "#include \"asyncio/asyncio.hpp\"\n#include \"asyncio/subprocess.hpp\"\n"
        "#include \"asyncio/net.hpp\"\n#include \"asyncio/streams.hpp\"\n"
        "struct P : asyncio::Protocol {};\n"
        "asyncio::Coro<void> f() {\n" +
        body + "\n}\n";
    std::fwrite(code.data(), 1, code.size(), f);
    std::fclose(f);
  }
  std::string cmd = "g++ -std=c++20 -fsyntax-only -I" + std::string(ASYNCIO_SOURCE_DIR) +
                    "/include " + src + " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = ::pclose(p);
  if (status == 0) return std::nullopt;
  return out;
}

/// Whether a line of `diag` holds both `a` and `b`.
bool line_with(const std::string& diag, const std::string& a, const std::string& b) {
  std::size_t start = 0;
  while (start < diag.size()) {
    std::size_t end = diag.find('\n', start);
    if (end == std::string::npos) end = diag.size();
    std::string_view line(diag.data() + start, end - start);
    if (line.find(a) != std::string_view::npos && line.find(b) != std::string_view::npos)
      return true;
    start = end + 1;
  }
  return false;
}

TEST(OptionsStyleTest, MisuseNamesTheOptionsType) {
  if (!nettest::command_works("g++ --version")) GTEST_SKIP() << "no g++";
  // A braced list that is not a SubprocessOptions initializer.
  auto e1 = compile_errors(
      "co_await asyncio::create_subprocess_exec(\"ls\", \"-l\", {.stdot = asyncio::PIPE});");
  ASSERT_TRUE(e1.has_value());
  // g++: "cannot convert '{asyncio::PIPE}' (type '<brace-enclosed initializer list>') to type
  // 'asyncio::SubprocessOptions'" (before: only "... to 'std::vector<...>'").
  EXPECT_TRUE(line_with(*e1, "conver", "asyncio::SubprocessOptions")) << *e1;
  // Options not last / not a string: the static_assert names the type and the forms.
  auto e2 = compile_errors(
      "co_await asyncio::create_subprocess_exec(\"ls\", asyncio::SubprocessOptions{}, \"-l\");");
  ASSERT_TRUE(e2.has_value());
  EXPECT_NE(e2->find("only the last may be an asyncio::SubprocessOptions"), std::string::npos)
      << *e2;
  auto e3 = compile_errors(
      "(void)co_await asyncio::create_connection([] { return std::make_shared<P>(); }, "
      "\"h\", 1, {.backlog = 1});");
  ASSERT_TRUE(e3.has_value());
  EXPECT_TRUE(line_with(*e3, "conver", "asyncio::ConnectionOptions")) << *e3;
  auto e4 = compile_errors(
      "(void)co_await asyncio::start_server([](asyncio::StreamReader, asyncio::StreamWriter) "
      "-> asyncio::Coro<> { co_return; }, \"h\", 1, {.all_errors = true});");
  ASSERT_TRUE(e4.has_value());
  EXPECT_TRUE(line_with(*e4, "conver", "asyncio::ServerOptions")) << *e4;
  // And the good forms compile.
  EXPECT_EQ(compile_errors("(void)co_await asyncio::create_subprocess_exec(\"ls\", \"-l\", "
                           "{.stdout = asyncio::PIPE});"),
            std::nullopt);
}

}  // namespace
