// TCP echo server using streams (Python docs: "TCP echo server using streams").
//
//   tcp_echo_server                 demo: serve on an ephemeral port, talk to it, exit
//   tcp_echo_server --port 8888     serve on 127.0.0.1:8888 until Ctrl-C
#include <cstdio>
#include <cstring>
#include <string>

#include "asyncio/asyncio.hpp"
#include "asyncio/streams.hpp"

using namespace std::chrono_literals;

asyncio::Coro<> handle_echo(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  std::string message = co_await reader.read(100);
  auto addr = writer.extra<asyncio::SockAddr>("peername");
  std::printf("Received '%s' from %s\n", message.c_str(), addr ? addr->to_string().c_str() : "?");
  std::printf("Send: '%s'\n", message.c_str());
  writer.write(message);
  co_await writer.drain();
  std::printf("Close the connection\n");
  writer.close();
  co_await writer.wait_closed();
}

asyncio::Coro<> demo_client(std::uint16_t port, std::string message) {
  auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port);
  writer.write(message);
  co_await writer.drain();
  std::string data = co_await reader.read(100);
  std::printf("Client received: '%s'\n", data.c_str());
  writer.close();
  co_await writer.wait_closed();
}

asyncio::Coro<int> amain(int port) {
  asyncio::Server server =
      co_await asyncio::start_server(handle_echo, "127.0.0.1", static_cast<std::uint16_t>(port));
  auto addr = server.sockets().at(0).getsockname();
  std::printf("Serving on %s\n", addr.to_string().c_str());
  if (port != 0) {
    co_await server.serve_forever();
    co_return 0;
  }
  co_await demo_client(addr.port(), "Hello World!");
  server.close();
  co_await server.wait_closed();
  co_return 0;
}

int main(int argc, char** argv) {
  int port = 0;
  if (argc == 3 && std::strcmp(argv[1], "--port") == 0) port = std::atoi(argv[2]);
  return asyncio::run_main(amain(port));
}
