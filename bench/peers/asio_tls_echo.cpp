// Boost.Asio TLS echo server with C++20 coroutines: one coroutine per connection
// (async_handshake, then async_read_some + async_write on an ssl::stream). Single-threaded
// io_context; OpenSSL underneath (asio/ssl).
//
//   asio_tls_echo PORT --tls CERT KEY
//
// Same TLS settings as every TLS peer (bench/README.md, "TLS"): TLS 1.3 only, no session
// tickets. On the peer's close the coroutine ends without a TLS shutdown of its own (as the
// other servers: the peer is gone).
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using tls_stream = asio::ssl::stream<tcp::socket>;

static awaitable<void> echo(tls_stream stream) {
  char data[64 * 1024];
  try {
    co_await stream.async_handshake(asio::ssl::stream_base::server, use_awaitable);
    for (;;) {
      std::size_t n = co_await stream.async_read_some(asio::buffer(data), use_awaitable);
      co_await asio::async_write(stream, asio::buffer(data, n), use_awaitable);
    }
  } catch (const std::exception&) {
    // connection closed (or the handshake failed)
  }
}

static awaitable<void> listener(unsigned short port, asio::ssl::context& ctx) {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(ex, {asio::ip::make_address("127.0.0.1"), port});
  for (;;) {
    tcp::socket sock = co_await acceptor.async_accept(use_awaitable);
    sock.set_option(tcp::no_delay(true));
    asio::co_spawn(ex, echo(tls_stream(std::move(sock), ctx)), asio::detached);
  }
}

int main(int argc, char** argv) {
  if (argc < 5 || std::strcmp(argv[2], "--tls") != 0) {
    std::fprintf(stderr, "usage: asio_tls_echo PORT --tls CERT KEY\n");
    return 2;
  }
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  ctx.set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                  asio::ssl::context::no_tlsv1_2);
  ctx.use_certificate_chain_file(argv[3]);
  ctx.use_private_key_file(argv[4], asio::ssl::context::pem);
  SSL_CTX_set_num_tickets(ctx.native_handle(), 0);  // no session resumption
  asio::io_context io(1);
  asio::co_spawn(io, listener(static_cast<unsigned short>(std::atoi(argv[1])), ctx),
                 asio::detached);
  io.run();
}
