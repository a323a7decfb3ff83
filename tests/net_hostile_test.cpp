// Hostile strings and numbers to every networking API that hands a caller's value to the OS
// (issue 9, fault injection): Unix socket paths (NUL, longer than sun_path, abstract names),
// host names and port strings for getaddrinfo (NUL, absurdly long), TLS server_hostname (NUL,
// too long for SNI), and fd numbers for add_reader/remove_reader/sock_*/connect_read_pipe.
// A C string ends at its first NUL, so "127.0.0.1\0junk" or "/run/app.sock\0x" would name
// something else than the caller wrote: always an exception, never a silent truncation. Each
// case checks the exception (CPython 3.12's type and message where it has one; differences
// are in docs/python-mapping.md), that no fd leaked, and that the loop keeps working.

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/ssl.hpp"
#include "net_helpers.hpp"

using namespace std::chrono_literals;
using namespace std::string_literals;
using asyncio::Coro;

namespace {

struct Quiet : asyncio::Protocol {};

std::shared_ptr<asyncio::Protocol> quiet() {
  return std::make_shared<Quiet>();
}

bool is_socket_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

/// The ValueError message of `co_await make()`, or a description of what happened instead.
template <class Make>
Coro<std::string> value_error_of(Make make) {
  try {
    co_await make();
  } catch (const asyncio::ValueError& e) {
    co_return e.what();
  } catch (const std::exception& e) {
    co_return std::string("not a ValueError: ") + e.what();
  }
  co_return "no exception";
}

/// A round trip through a fresh echo server on `path`: the loop (and Unix sockets) still work.
Coro<void> unix_round_trip(const std::string& path) {
  auto server = co_await asyncio::start_unix_server(
      [](asyncio::StreamReader r, asyncio::StreamWriter w) -> Coro<void> {
        w.write(co_await r.readline());
        co_await w.drain();
        w.close();
      },
      path);
  auto rw = co_await asyncio::open_unix_connection(path);
  auto& [r, w] = rw;
  w.write("ping\n");
  EXPECT_EQ(co_await r.readline(), "ping\n");
  w.close();
  server.close();
  co_await server.wait_closed();
}

}  // namespace

// ---- Unix socket paths -----------------------------------------------------------------------

TEST(NetHostile, UnixServerPathWithNulNeitherRemovesNorReplacesTheTruncatedSocket) {
  // Before: "dir/s\0x" removed the live server's socket file "dir/s" as stale, then bound a
  // new server there. CPython: ValueError("embedded null byte") from os.stat().
  nettest::TempDir dir;
  const std::string live = dir.file("s");
  nettest::run([](std::string live) -> Coro<> {
    const int fds = nettest::count_fds();
    auto server = co_await asyncio::start_unix_server(
        [](asyncio::StreamReader, asyncio::StreamWriter w) -> Coro<void> {
          w.write("live\n");
          co_await w.drain();
          w.close();
        },
        live);
    const int serving = nettest::count_fds();
    EXPECT_EQ(
        co_await value_error_of([&] { return asyncio::create_unix_server(quiet, live + "\0x"s); }),
        "embedded null byte");
    EXPECT_EQ(co_await value_error_of([&] {
                return asyncio::start_unix_server(
                    [](asyncio::StreamReader, asyncio::StreamWriter) -> Coro<void> { co_return; },
                    live + "\0x"s);
              }),
              "embedded null byte");
    EXPECT_EQ(nettest::count_fds(), serving);
    EXPECT_TRUE(is_socket_file(live));
    auto rw = co_await asyncio::open_unix_connection(live);  // still the first server
    auto& [r, w] = rw;
    EXPECT_EQ(co_await r.readline(), "live\n");
    w.close();
    co_await w.wait_closed();
    server.close();
    co_await server.wait_closed();
    EXPECT_EQ(nettest::count_fds(), fds);
  }(live));
}

TEST(NetHostile, UnixConnectionPathWithNulIsRefused) {
  // Before: "dir/s\0x" connected to "dir/s". CPython truncates too (and connects); we refuse
  // with the message of the server side (a documented difference).
  nettest::TempDir dir;
  const std::string path = dir.file("s");
  nettest::run([](std::string path) -> Coro<> {
    std::atomic<int> accepted{0};
    auto server = co_await asyncio::start_unix_server(
        [&accepted](asyncio::StreamReader, asyncio::StreamWriter w) -> Coro<void> {
          ++accepted;
          w.close();
          co_return;
        },
        path);
    const int fds = nettest::count_fds();
    EXPECT_EQ(co_await value_error_of([&] { return asyncio::open_unix_connection(path + "\0x"s); }),
              "embedded null byte");
    EXPECT_EQ(co_await value_error_of([&] {
                return asyncio::create_unix_connection([] { return std::make_shared<Quiet>(); },
                                                       path + "\0x"s);
              }),
              "embedded null byte");
    EXPECT_EQ(nettest::count_fds(), fds);
    co_await asyncio::sleep(0.05s);
    EXPECT_EQ(accepted.load(), 0);
    server.close();
    co_await server.wait_closed();
    co_await unix_round_trip(path);
  }(path));
}

TEST(NetHostile, UnixPathLongerThanSunPathIsOSError) {
  // CPython: OSError("AF_UNIX path too long") for a file name of 108 bytes or more (it needs
  // its terminator) and for an abstract name of more than 108 bytes.
  nettest::TempDir dir;
  const std::string base = dir.path() + "/";
  nettest::run([](std::string base) -> Coro<> {
    const int fds = nettest::count_fds();
    const std::string too_long = base + std::string(108 - base.size(), 'x');  // 108 bytes
    const std::string longest = base + std::string(107 - base.size(), 'y');   // 107 bytes
    const std::string huge = base + std::string(100000, 'z');
    const std::vector<std::string> paths = {too_long, huge, "\0"s + std::string(108, 'a')};
    for (const std::string& p : paths) {
      for (int kind = 0; kind < 2; ++kind) {
        try {
          if (kind == 0) {
            co_await asyncio::create_unix_server(quiet, p);
          } else {
            co_await asyncio::open_unix_connection(p);
          }
          ADD_FAILURE() << "no exception for " << p.size() << " bytes";
        } catch (const asyncio::OSError& e) {
          // CPython 3.12: OSError('AF_UNIX path too long'), without errno.
          EXPECT_EQ(e.code().value(), 0);
          EXPECT_STREQ(e.what(), "AF_UNIX path too long");
        } catch (const std::exception& e) {
          ADD_FAILURE() << p.size() << " bytes: not an OSError: " << e.what();
        }
      }
    }
    struct stat st {};
    EXPECT_NE(::stat(too_long.substr(0, 107).c_str(), &st), 0);  // nothing truncated was bound
    EXPECT_EQ(nettest::count_fds(), fds);
    co_await unix_round_trip(longest);  // 107 bytes is fine
  }(base));
}

TEST(NetHostile, AbstractUnixNamesMayFillSunPathAndHoldNuls) {
  // Linux abstract names are bytes: NULs inside are part of the name, and there is no
  // terminator, so all 108 bytes are usable (CPython accepts both).
  nettest::run([]() -> Coro<> {
    const std::string tag = "asyncio-hostile-" + std::to_string(::getpid());
    const std::string with_nuls = "\0"s + tag + "\0with\0nuls"s;
    const std::string full = "\0"s + tag + std::string(107 - tag.size(), 'f');
    EXPECT_EQ(full.size(), 108u);
    const std::vector<std::string> names = {with_nuls, full};
    for (const std::string& name : names) {
      auto server = co_await asyncio::create_unix_server(quiet, name);
      EXPECT_EQ(server.sockets().at(0).getsockname().path(), name);
      auto rw = co_await asyncio::open_unix_connection(name);
      rw.second.close();
      // A different name (the part before the second NUL) is another socket.
      try {
        co_await asyncio::open_unix_connection(name.substr(0, 1 + tag.size()) + "-other");
        ADD_FAILURE() << "connected to a different abstract name";
      } catch (const asyncio::ConnectionRefusedError&) {
      }
      server.close();
      co_await server.wait_closed();
    }
  }());
}

// ---- Host names and ports --------------------------------------------------------------------

TEST(NetHostile, HostAndPortWithNulAreRefused) {
  // Before: "127.0.0.1\0junk" connected to 127.0.0.1 and "80\0x" was port 80. CPython:
  // ValueError("embedded null character") from create_connection/create_server/sock_connect
  // (its loop.getaddrinfo truncates; we refuse there too).
  nettest::run([]() -> Coro<> {
    std::atomic<int> accepted{0};
    auto server = co_await asyncio::start_server(
        [&accepted](asyncio::StreamReader, asyncio::StreamWriter w) -> Coro<void> {
          ++accepted;
          w.close();
          co_return;
        },
        "127.0.0.1", 0);
    const std::uint16_t port = server.sockets().at(0).getsockname().port();
    const int fds = nettest::count_fds();
    const char* kMsg = "embedded null character";
    EXPECT_EQ(
        co_await value_error_of([&] { return asyncio::open_connection("127.0.0.1\0junk"s, port); }),
        kMsg);
    EXPECT_EQ(
        co_await value_error_of([&] { return asyncio::open_connection("localhost\0junk"s, port); }),
        kMsg);
    EXPECT_EQ(co_await value_error_of(
                  [&] { return asyncio::create_connection(quiet, "127.0.0.1\0junk"s, port); }),
              kMsg);
    EXPECT_EQ(co_await value_error_of(
                  [&] { return asyncio::create_server(quiet, "127.0.0.1\0junk"s, 0); }),
              kMsg);
    EXPECT_EQ(
        co_await value_error_of([&] { return asyncio::getaddrinfo("127.0.0.1\0junk"s, "80"); }),
        kMsg);
    EXPECT_EQ(
        co_await value_error_of([&] { return asyncio::getaddrinfo("localhost\0junk"s, "80"); }),
        kMsg);
    EXPECT_EQ(co_await value_error_of([&] { return asyncio::getaddrinfo("127.0.0.1", "80\0x"s); }),
              kMsg);
    EXPECT_EQ(
        co_await value_error_of([&] { return asyncio::getaddrinfo("127.0.0.1", "http\0x"s); }),
        kMsg);
    {
      asyncio::Socket s = asyncio::Socket::create(AF_INET, SOCK_STREAM);
      EXPECT_EQ(co_await value_error_of(
                    [&] { return asyncio::sock_connect(s.fd(), "127.0.0.1\0x"s, port); }),
                kMsg);
    }
    try {
      (void)asyncio::SockAddr::inet("127.0.0.1\0junk"s, port);
      ADD_FAILURE() << "SockAddr::inet accepted a NUL";
    } catch (const asyncio::ValueError& e) {
      EXPECT_STREQ(e.what(), kMsg);
    }
    EXPECT_EQ(nettest::count_fds(), fds);
    co_await asyncio::sleep(0.05s);
    EXPECT_EQ(accepted.load(), 0);
    // The loop still connects.
    auto rw = co_await asyncio::open_connection("127.0.0.1", port);
    rw.second.close();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST(NetHostile, AbsurdHostNamesAndPortsFailCleanly) {
  // CPython refuses a 100,000-byte name in its IDNA codec (UnicodeError "label too long");
  // we pass bytes to getaddrinfo, which refuses it: gaierror, quickly, nothing leaked.
  nettest::run([]() -> Coro<> {
    const int fds = nettest::count_fds();
    const std::string huge(100000, 'a');
    try {
      co_await asyncio::getaddrinfo(huge, "80", AF_UNSPEC, SOCK_STREAM);
      ADD_FAILURE() << "resolved";
    } catch (const asyncio::gaierror&) {
    }
    try {
      co_await asyncio::open_connection(huge, 80);
      ADD_FAILURE() << "connected";
    } catch (const asyncio::gaierror&) {
    }
    // A service name that does not exist: gaierror (CPython: EAI_SERVICE).
    try {
      co_await asyncio::getaddrinfo("127.0.0.1", std::string(100000, 'x'), AF_INET, SOCK_STREAM);
      ADD_FAILURE() << "resolved";
    } catch (const asyncio::gaierror& e) {
      EXPECT_EQ(e.code().value(), EAI_SERVICE);
    }
    EXPECT_EQ(nettest::count_fds(), fds);
    auto infos = co_await asyncio::getaddrinfo("127.0.0.1", "80", AF_INET, SOCK_STREAM);
    EXPECT_FALSE(infos.empty());
  }());
}

// ---- TLS server_hostname ---------------------------------------------------------------------

namespace {
const nettest::TestCerts& certs() {
  static nettest::TestCerts* c = new nettest::TestCerts();  // generated once per process
  return *c;
}
}  // namespace

TEST(NetHostile, ServerHostnameWithNulIsRefusedBeforeConnecting) {
  // Before: "localhost\0.evil.example" was sent (SNI) and verified as "localhost": the
  // handshake succeeded. CPython: TypeError("argument must be encoded string without null
  // bytes, not str"); we have no TypeError: ValueError("embedded null character").
  if (!certs().ok) GTEST_SKIP() << "openssl could not generate test certificates";
  nettest::run([]() -> Coro<> {
    auto server_ctx = std::make_shared<asyncio::SSLContext>(asyncio::SSLContext::TLS_SERVER);
    server_ctx->load_cert_chain(certs().cert, certs().key);
    auto client_ctx =
        asyncio::SSLContext::create_default_context(asyncio::Purpose::SERVER_AUTH, certs().ca_cert);
    std::atomic<int> accepted{0};
    auto server = co_await asyncio::start_server(
        [&accepted](asyncio::StreamReader, asyncio::StreamWriter w) -> Coro<void> {
          ++accepted;
          w.close();
          co_return;
        },
        "127.0.0.1", 0, {.ssl = server_ctx});
    const std::uint16_t port = server.sockets().at(0).getsockname().port();
    const int fds = nettest::count_fds();
    const std::string evil = "localhost\0.evil.example"s;
    EXPECT_EQ(co_await value_error_of([&] {
                return asyncio::open_connection("127.0.0.1", port,
                                                {.ssl = client_ctx, .server_hostname = evil});
              }),
              "embedded null character");
    // start_tls on a plain connection.
    auto rw = co_await asyncio::open_connection("127.0.0.1", port);
    auto& w = rw.second;
    EXPECT_EQ(co_await value_error_of([&] { return w.start_tls(client_ctx, evil); }),
              "embedded null character");
    w.close();
    co_await w.wait_closed();
    co_await asyncio::sleep(0.05s);
    EXPECT_EQ(nettest::count_fds(), fds);
    EXPECT_EQ(accepted.load(), 0);  // neither TLS connection got through a handshake
    // A name too long for SNI (> 255 bytes) is an SSLError, not a handshake without SNI.
    const std::string long_name = std::string(300, 'a');
    asyncio::ConnectionOptions too_long{.ssl = client_ctx, .server_hostname = long_name};
    try {
      co_await asyncio::open_connection("127.0.0.1", port, too_long);
      ADD_FAILURE() << "connected";
    } catch (const asyncio::SSLError& e) {
      EXPECT_NE(std::string(e.what()).find("invalid server_hostname"), std::string::npos)
          << e.what();
    }
    // The proper name works.
    asyncio::ConnectionOptions good{.ssl = client_ctx, .server_hostname = "localhost"};
    auto trw = co_await asyncio::open_connection("127.0.0.1", port, good);
    trw.second.close();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST(NetHostile, TlsFilePathsAndCipherStringWithNul) {
  // Before: the part before the NUL was loaded, silently (a real certificate file here).
  // CPython: ValueError("embedded null byte") for the paths, "embedded null character" for
  // the cipher string.
  if (!certs().ok) GTEST_SKIP() << "openssl could not generate test certificates";
  const auto value_error = [](auto f) -> std::string {
    try {
      f();
    } catch (const asyncio::ValueError& e) {
      return e.what();
    } catch (const std::exception& e) {
      return std::string("not a ValueError: ") + e.what();
    }
    return "no exception";
  };
  asyncio::SSLContext server(asyncio::SSLContext::TLS_SERVER);
  asyncio::SSLContext client(asyncio::SSLContext::TLS_CLIENT);
  const std::string cert = certs().cert + "\0.other"s;
  const std::string key = certs().key + "\0.other"s;
  const std::string ca = certs().ca_cert + "\0.other"s;
  const std::string dir = "/etc/ssl/certs\0.other"s;
  const char* kNul = "embedded null byte";
  EXPECT_EQ(value_error([&] { server.load_cert_chain(cert, certs().key); }), kNul);
  EXPECT_EQ(value_error([&] { server.load_cert_chain(certs().cert, key); }), kNul);
  EXPECT_EQ(value_error([&] { server.load_cert_chain(cert); }), kNul);
  EXPECT_EQ(value_error([&] { client.load_verify_locations(ca); }), kNul);
  EXPECT_EQ(value_error([&] { client.load_verify_locations(std::nullopt, dir); }), kNul);
  EXPECT_EQ(value_error([&] {
              (void)asyncio::SSLContext::create_default_context(asyncio::Purpose::SERVER_AUTH, ca);
            }),
            kNul);
  EXPECT_EQ(value_error([&] { client.set_ciphers("HIGH\0:eNULL"s); }), "embedded null character");
  // The proper names still work.
  server.load_cert_chain(certs().cert, certs().key);
  client.load_verify_locations(certs().ca_cert);
}

// ---- File descriptor numbers -----------------------------------------------------------------

TEST(NetHostile, NegativeAndHugeFdNumbers) {
  // CPython: add_reader/add_writer/remove_reader(-1) raise ValueError("Invalid file
  // descriptor: -1"); a number that is no open fd is OSError(EBADF).
  nettest::run([]() -> Coro<> {
    asyncio::EventLoop& loop = asyncio::get_running_loop();
    const int fds = nettest::count_fds();
    for (int fd : {-1, -5, INT_MIN}) {
      const std::string msg = "Invalid file descriptor: " + std::to_string(fd);
      for (int what = 0; what < 4; ++what) {
        try {
          if (what == 0) loop.add_reader(fd, [] {});
          if (what == 1) loop.add_writer(fd, [] {});
          if (what == 2) (void)loop.remove_reader(fd);
          if (what == 3) (void)loop.remove_writer(fd);
          ADD_FAILURE() << "no exception for " << fd << " (" << what << ")";
        } catch (const asyncio::ValueError& e) {
          EXPECT_EQ(std::string(e.what()), msg);
        } catch (const std::exception& e) {
          ADD_FAILURE() << "not a ValueError: " << e.what();
        }
      }
    }
    for (int fd : {1000000, INT_MAX}) {
      for (int what = 0; what < 2; ++what) {
        try {
          if (what == 0) loop.add_reader(fd, [] {});
          if (what == 1) loop.add_writer(fd, [] {});
          ADD_FAILURE() << "no exception for " << fd;
        } catch (const asyncio::OSError& e) {
          EXPECT_EQ(e.code().value(), EBADF) << e.what();
        } catch (const std::exception& e) {
          ADD_FAILURE() << "not an OSError: " << e.what();
        }
      }
      EXPECT_FALSE(loop.remove_reader(fd));
      EXPECT_FALSE(loop.remove_writer(fd));
    }
    for (int fd : {-1, 1000000, INT_MAX}) {
      try {
        co_await asyncio::sock_recv(fd, 16);
        ADD_FAILURE() << "sock_recv(" << fd << ")";
      } catch (const asyncio::OSError& e) {
        EXPECT_EQ(e.code().value(), EBADF) << e.what();
      }
      try {
        co_await asyncio::sock_sendall(fd, "x");
        ADD_FAILURE() << "sock_sendall(" << fd << ")";
      } catch (const asyncio::OSError& e) {
        EXPECT_EQ(e.code().value(), EBADF) << e.what();
      }
      try {
        co_await asyncio::sock_accept(fd);
        ADD_FAILURE() << "sock_accept(" << fd << ")";
      } catch (const asyncio::OSError& e) {
        EXPECT_EQ(e.code().value(), EBADF) << e.what();
      }
      try {
        co_await asyncio::connect_read_pipe(quiet, fd);
        ADD_FAILURE() << "connect_read_pipe(" << fd << ")";
      } catch (const asyncio::OSError& e) {
        EXPECT_EQ(e.code().value(), EBADF) << e.what();
      }
      try {
        co_await asyncio::connect_write_pipe(quiet, fd);
        ADD_FAILURE() << "connect_write_pipe(" << fd << ")";
      } catch (const asyncio::OSError& e) {
        EXPECT_EQ(e.code().value(), EBADF) << e.what();
      }
    }
    EXPECT_EQ(nettest::count_fds(), fds);
    co_await asyncio::sleep(0.001s);  // the loop still runs
  }());
}
