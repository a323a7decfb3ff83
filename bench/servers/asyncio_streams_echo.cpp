// Echo server on our streams API (Python: asyncio.start_server with a
// `async def handle(reader, writer)` callback).
//
//   asyncio_streams_echo PORT
//
// Written against the Python-shaped API of include/asyncio/streams.hpp; the harness reports
// "not built" while that header is missing or differs.
#include <asyncio/asyncio.hpp>
#include <asyncio/streams.hpp>

#include <cstdio>
#include <cstdlib>

namespace {

asyncio::Coro<void> handle(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  try {
    for (;;) {
      auto data = co_await reader.read(64 * 1024);
      if (data.empty()) break;
      writer.write(data);
      co_await writer.drain();
    }
  } catch (const std::exception&) {
    // connection reset
  }
  writer.close();
}

asyncio::Coro<void> serve(int port) {
  auto server =
      co_await asyncio::start_server(handle, "127.0.0.1", static_cast<std::uint16_t>(port));
  co_await server.serve_forever();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: asyncio_streams_echo PORT\n");
    return 2;
  }
  asyncio::run(serve(std::atoi(argv[1])));
}
