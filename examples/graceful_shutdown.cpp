// graceful_shutdown — a TCP echo server that shuts down gracefully on SIGTERM: it stops
// accepting new connections, lets the open one finish, then exits. The demo sends itself
// SIGTERM after 1 s (what `kill <pid>` from a shell or a service manager would do).
//
// Python original (examples/python/graceful_shutdown.py):
//   stop = loop.create_future()
//   loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
//   server = await asyncio.start_server(handle, "127.0.0.1", 0)
//   ...
//   loop.call_later(1, os.kill, os.getpid(), signal.SIGTERM)
//   await stop
//   server.close()               # stop accepting; the open connection keeps going
//   ...
//   await server.wait_closed()   # returns once every connection is gone
//
// Output:
//   [0.0s] serving
//   [0.0s] echoed 'hello'
//   [1.0s] SIGTERM: closing the server
//   [1.0s] echoed 'still there?'
//   [1.0s] server closed, bye
//
// The signal handler runs on the loop like any callback (the C signal handler only wakes the
// loop through a pipe), so it may touch futures freely.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <asyncio/asyncio.hpp>
#include <asyncio/streams.hpp>

using namespace std::chrono_literals;

namespace {

asyncio::Coro<void> handle(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  while (true) {
    std::string line = co_await reader.readline();
    if (line.empty()) break;
    writer.write(line);
    co_await writer.drain();
  }
  writer.close();
  co_await writer.wait_closed();
}

std::string strip(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

asyncio::Coro<int> amain() {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  const double start = loop.time();
  asyncio::Future<void> stop = loop.create_future<void>();
  loop.add_signal_handler(SIGTERM, [stop] {
    if (!stop.done()) stop.set_result();
  });

  asyncio::Server server = co_await asyncio::start_server(handle, "127.0.0.1", 0);
  const std::uint16_t port = server.sockets().at(0).getsockname().port();
  std::printf("[%.1fs] serving\n", loop.time() - start);

  auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port);
  writer.write("hello\n");
  co_await writer.drain();
  std::printf("[%.1fs] echoed '%s'\n", loop.time() - start,
              strip(co_await reader.readline()).c_str());

  loop.call_later(1s, [] { ::kill(::getpid(), SIGTERM); });
  co_await stop;
  std::printf("[%.1fs] SIGTERM: closing the server\n", loop.time() - start);
  server.close();  // stop accepting; the open connection keeps going
  writer.write("still there?\n");
  co_await writer.drain();
  std::printf("[%.1fs] echoed '%s'\n", loop.time() - start,
              strip(co_await reader.readline()).c_str());
  writer.close();
  co_await writer.wait_closed();
  co_await server.wait_closed();  // returns once every connection is gone
  loop.remove_signal_handler(SIGTERM);
  std::printf("[%.1fs] server closed, bye\n", loop.time() - start);
  co_return 0;
}

}  // namespace

int main() {
  return asyncio::run_main(amain());
}
