// TLS echo server on our protocol/transport API with an SSLContext (Python:
// loop.create_server(Echo, host, port, ssl=context) with a Protocol whose data_received()
// calls transport.write(); the TLS layer decrypts before data_received and encrypts write()).
//
//   asyncio_tls_echo PORT --tls CERT KEY
//
// TLS settings shared by every TLS peer of the benchmark (bench/README.md, "TLS"): TLS 1.3
// only, and no session tickets (the handshake benchmark measures full handshakes; tickets
// would also add a ticket encryption per connection to some servers and not others). The
// cipher suite and key-exchange group are chosen by the load generator, which offers one of
// each.
#include <asyncio/asyncio.hpp>
#include <asyncio/net.hpp>
#include <asyncio/protocols.hpp>
#include <asyncio/ssl.hpp>
#include <asyncio/transports.hpp>

#include <openssl/ssl.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace {

class Echo final : public asyncio::Protocol {
 public:
  void connection_made(asyncio::Transport& transport) override { transport_ = &transport; }
  void data_received(std::span<const std::byte> data) override { transport_->write(data); }

 private:
  asyncio::Transport* transport_ = nullptr;
};

asyncio::Coro<void> serve(int port, std::shared_ptr<asyncio::SSLContext> ctx) {
  asyncio::ServerOptions options;
  options.backlog = 1024;
  options.ssl = ctx;
  asyncio::Server server =
      co_await asyncio::create_server([] { return std::make_shared<Echo>(); }, "127.0.0.1",
                                      static_cast<std::uint16_t>(port), options);
  co_await server.serve_forever();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5 || std::strcmp(argv[2], "--tls") != 0) {
    std::fprintf(stderr, "usage: asyncio_tls_echo PORT --tls CERT KEY\n");
    return 2;
  }
  auto ctx = std::make_shared<asyncio::SSLContext>(asyncio::SSLContext::TLS_SERVER);
  ctx->load_cert_chain(argv[3], std::string(argv[4]));
  ctx->set_minimum_version(asyncio::TLSVersion::TLSv1_3);
  SSL_CTX_set_num_tickets(ctx->native_handle(), 0);  // no session resumption
  asyncio::run(serve(std::atoi(argv[1]), std::move(ctx)));
}
