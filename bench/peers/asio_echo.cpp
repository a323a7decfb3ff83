// Boost.Asio echo server with C++20 coroutines: one coroutine per connection
// (async_read_some, then async_write of what was read). Single-threaded io_context.
//
//   asio_echo PORT
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>

#include <cstdio>
#include <cstdlib>

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

static awaitable<void> echo(tcp::socket sock) {
  char data[64 * 1024];
  try {
    for (;;) {
      std::size_t n = co_await sock.async_read_some(asio::buffer(data), use_awaitable);
      co_await asio::async_write(sock, asio::buffer(data, n), use_awaitable);
    }
  } catch (const std::exception&) {
    // connection closed
  }
}

static awaitable<void> listener(unsigned short port) {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(ex, {asio::ip::make_address("127.0.0.1"), port});
  for (;;) {
    tcp::socket sock = co_await acceptor.async_accept(use_awaitable);
    sock.set_option(tcp::no_delay(true));
    asio::co_spawn(ex, echo(std::move(sock)), asio::detached);
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: asio_echo PORT\n");
    return 2;
  }
  asio::io_context io(1);
  asio::co_spawn(io, listener(static_cast<unsigned short>(std::atoi(argv[1]))), asio::detached);
  io.run();
}
