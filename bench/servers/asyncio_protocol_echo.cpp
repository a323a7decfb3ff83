// Echo server on our protocol/transport API (Python: loop.create_server with an
// asyncio.Protocol whose data_received() calls transport.write()).
//
//   asyncio_protocol_echo PORT
//
// API: include/asyncio/net.hpp, protocols.hpp, transports.hpp (the harness reports "not built"
// if this does not compile).
#include <asyncio/asyncio.hpp>
#include <asyncio/net.hpp>
#include <asyncio/protocols.hpp>
#include <asyncio/transports.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace {

class Echo final : public asyncio::Protocol {
 public:
  void connection_made(asyncio::Transport& transport) override { transport_ = &transport; }
  void data_received(std::span<const std::byte> data) override { transport_->write(data); }

 private:
  asyncio::Transport* transport_ = nullptr;
};

asyncio::Coro<void> serve(int port) {
  asyncio::ServerOptions options;
  options.backlog = 1024;
  asyncio::Server server =
      co_await asyncio::create_server([] { return std::make_shared<Echo>(); }, "127.0.0.1",
                                      static_cast<std::uint16_t>(port), options);
  co_await server.serve_forever();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: asyncio_protocol_echo PORT\n");
    return 2;
  }
  asyncio::run(serve(std::atoi(argv[1])));
}
