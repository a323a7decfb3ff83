// Echo server on our streams API with StreamReader::readinto() (a C++ addition: read(n) into
// the caller's buffer, no allocation per read) instead of read(n).
//
//   asyncio_streams_readinto_echo PORT
//
// The same loop as asyncio_streams_echo.cpp otherwise; the difference between the two rows is
// the cost of read() returning an owned std::string.
#include <asyncio/asyncio.hpp>
#include <asyncio/streams.hpp>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

asyncio::Coro<void> handle(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  std::vector<std::byte> buf(64 * 1024);
  try {
    for (;;) {
      std::size_t n = co_await reader.readinto(buf);
      if (n == 0) break;
      writer.write(std::span<const std::byte>(buf).first(n));
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
    std::fprintf(stderr, "usage: asyncio_streams_readinto_echo PORT\n");
    return 2;
  }
  asyncio::run(serve(std::atoi(argv[1])));
}
