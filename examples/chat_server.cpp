// A line-based chat server: the first line a client sends is its name; every later line is
// broadcast to the other clients as "name: line". Built on start_server/StreamReader/
// StreamWriter; a slow client is handled by drain() (backpressure) in its own task.
//
//   chat_server                 demo: three bots chat through the server, then it exits
//   chat_server --port 7777     serve on 127.0.0.1:7777 (try: nc 127.0.0.1 7777)
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "asyncio/asyncio.hpp"
#include "asyncio/streams.hpp"

using namespace std::chrono_literals;

class ChatRoom {
 public:
  asyncio::Coro<> handle(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
    std::string name = co_await reader.readline();
    if (name.empty()) co_return;
    while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
    int id = next_id_++;
    members_[id] = writer;
    broadcast(id, "* " + name + " joined\n");
    try {
      while (true) {
        std::string line = co_await reader.readline();
        if (line.empty()) break;  // EOF
        broadcast(id, name + ": " + line);
        co_await writer.drain();
      }
    } catch (const std::exception& e) {
      std::printf("[server] %s left with an error: %s\n", name.c_str(), e.what());
    }
    members_.erase(id);
    broadcast(id, "* " + name + " left\n");
    writer.close();
  }

 private:
  void broadcast(int from, const std::string& text) {
    std::printf("[server] %s", text.c_str());
    for (auto& [id, w] : members_) {
      if (id != from && !w.is_closing()) w.write(text);
    }
  }

  std::map<int, asyncio::StreamWriter> members_;
  int next_id_ = 0;
};

asyncio::Coro<std::vector<std::string>> bot(std::uint16_t port, std::string name,
                                            std::vector<std::string> lines, std::size_t expect) {
  auto [reader, writer] = co_await asyncio::open_connection("127.0.0.1", port);
  writer.write(name + "\n");
  co_await asyncio::sleep(0.05s);  // let everyone join
  for (const auto& l : lines) {
    writer.write(l + "\n");
    co_await writer.drain();
    co_await asyncio::sleep(0.01s);
  }
  std::vector<std::string> heard;
  while (heard.size() < expect) {
    std::string line = co_await asyncio::wait_for(reader.readline(), 5s);
    if (line.empty()) break;
    if (!line.starts_with("*")) heard.push_back(line);
  }
  writer.close();
  co_await writer.wait_closed();
  co_return heard;
}

asyncio::Coro<int> amain(int port) {
  ChatRoom room;
  asyncio::Server server = co_await asyncio::start_server(
      [&room](asyncio::StreamReader r, asyncio::StreamWriter w) { return room.handle(r, w); },
      "127.0.0.1", static_cast<std::uint16_t>(port));
  std::uint16_t bound = server.sockets().at(0).getsockname().port();
  std::printf("Chat server on 127.0.0.1:%u\n", bound);
  if (port != 0) {
    co_await server.serve_forever();
    co_return 0;
  }
  // Each bot says 2 lines and should hear the other two bots' 4 lines.
  // (The bots are created outside the co_await: GCC 12 mishandles brace-initialized
  // temporaries inside a co_await expression.)
  auto alice = bot(bound, "alice", {"hi all", "how are you?"}, 4);
  auto bob = bot(bound, "bob", {"hello alice", "fine, thanks"}, 4);
  auto carol = bot(bound, "carol", {"hey", "bye"}, 4);
  auto [a, b, c] = co_await asyncio::gather(std::move(alice), std::move(bob), std::move(carol));
  int ok = a.size() == 4 && b.size() == 4 && c.size() == 4;
  std::printf("alice heard %zu, bob heard %zu, carol heard %zu lines\n", a.size(), b.size(),
              c.size());
  server.close();
  co_await server.wait_closed();
  co_return ok ? 0 : 1;
}

int main(int argc, char** argv) {
  int port = 0;
  if (argc == 3 && std::strcmp(argv[1], "--port") == 0) port = std::atoi(argv[2]);
  return asyncio::run_main(amain(port));
}
