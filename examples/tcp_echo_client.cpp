// TCP echo client using streams (Python docs: "TCP echo client using streams").
//
//   tcp_echo_client                       demo: starts its own echo server, then the client
//   tcp_echo_client --port 8888 [message] talks to an echo server on 127.0.0.1:8888
#include <cstdio>
#include <cstring>
#include <string>

#include "asyncio/asyncio.hpp"
#include "asyncio/streams.hpp"

asyncio::Coro<> tcp_echo_client(std::string message, std::uint16_t port) {
  auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port);
  std::printf("Send: '%s'\n", message.c_str());
  writer.write(message);
  co_await writer.drain();
  std::string data = co_await reader.read(100);
  std::printf("Received: '%s'\n", data.c_str());
  std::printf("Close the connection\n");
  writer.close();
  co_await writer.wait_closed();
}

asyncio::Coro<> echo_once(asyncio::StreamReader r, asyncio::StreamWriter w) {
  w.write(co_await r.read(100));
  co_await w.drain();
  w.close();
}

asyncio::Coro<int> amain(int port, std::string message) {
  if (port != 0) {
    co_await tcp_echo_client(message, static_cast<std::uint16_t>(port));
    co_return 0;
  }
  // Self-contained demo: a local echo server on an ephemeral port.
  asyncio::Server server = co_await asyncio::start_server(echo_once, "127.0.0.1", 0);
  co_await tcp_echo_client(message, server.sockets().at(0).getsockname().port());
  server.close();
  co_await server.wait_closed();
  co_return 0;
}

int main(int argc, char** argv) {
  int port = 0;
  std::string message = "Hello World!";
  if (argc >= 3 && std::strcmp(argv[1], "--port") == 0) {
    port = std::atoi(argv[2]);
    if (argc >= 4) message = argv[3];
  }
  return asyncio::run_main(amain(port, message));
}
