// Echo server on our low-level socket API (Python: loop.sock_accept / sock_recv_into /
// sock_sendall): one task per connection.
//
//   asyncio_sock_echo PORT
#include <asyncio/asyncio.hpp>
#include <asyncio/sockets.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <array>
#include <cstdio>
#include <cstdlib>

namespace {

asyncio::Coro<void> echo(asyncio::Socket sock) {
  std::array<std::byte, 64 * 1024> buf;
  try {
    for (;;) {
      std::size_t n = co_await asyncio::sock_recv_into(sock.fd(), buf);
      if (n == 0) break;
      co_await asyncio::sock_sendall(sock.fd(), std::span<const std::byte>(buf.data(), n));
    }
  } catch (const std::exception&) {
    // connection reset
  }
}

asyncio::Coro<void> serve(int port) {
  asyncio::Socket listener = asyncio::Socket::create(AF_INET, SOCK_STREAM);
  listener.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  listener.bind(asyncio::SockAddr::inet("127.0.0.1", static_cast<std::uint16_t>(port)));
  listener.listen(1024);
  for (;;) {
    auto [sock, addr] = co_await asyncio::sock_accept(listener.fd());
    sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    asyncio::create_task(echo(std::move(sock)));  // the loop keeps it alive
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: asyncio_sock_echo PORT\n");
    return 2;
  }
  asyncio::run(serve(std::atoi(argv[1])));
}
