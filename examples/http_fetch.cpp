// A small HTTP/1.1 client fetching several URLs concurrently with gather(), against an HTTP
// server this program starts itself on 127.0.0.1 (no internet needed).
//
//   http_fetch            demo: start the server, fetch 4 URLs concurrently, print, exit
//   http_fetch --serve    only serve: prints "READY <port>", stops when stdin closes
//                         (try: curl -i http://127.0.0.1:<port>/hello)
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "asyncio/asyncio.hpp"
#include "asyncio/streams.hpp"
#include "asyncio/threads.hpp"

using namespace std::chrono_literals;

// ---- The embedded server ------------------------------------------------------------------

const std::map<std::string, std::string>& pages() {
  static const std::map<std::string, std::string> p = {
      {"/hello", "Hello from asyncio for C++!\n"},
      {"/numbers",
       [] {
         std::string s;
         for (int i = 1; i <= 1000; ++i) s += std::to_string(i) + "\n";
         return s;
       }()},
      {"/big", std::string(1 << 20, 'x')},
  };
  return p;
}

asyncio::Coro<> serve_http(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  try {
    while (true) {  // keep-alive: several requests per connection
      std::string request_line = co_await reader.readline();
      if (request_line.empty()) break;
      bool close = false;
      while (true) {
        std::string header = co_await reader.readline();
        if (header.empty() || header == "\r\n" || header == "\n") break;
        if (header.starts_with("Connection: close")) close = true;
      }
      std::string path = "/";
      if (auto sp = request_line.find(' '); sp != std::string::npos) {
        path = request_line.substr(sp + 1, request_line.find(' ', sp + 1) - sp - 1);
      }
      auto it = pages().find(path);
      std::string status = it != pages().end() ? "200 OK" : "404 Not Found";
      std::string body = it != pages().end() ? it->second : "not found\n";
      writer.write("HTTP/1.1 " + status + "\r\nContent-Type: text/plain\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n" + (close ? "Connection: close\r\n" : "") +
                   "\r\n");
      writer.write(body);
      co_await writer.drain();
      if (close) break;
    }
  } catch (const std::exception&) {
    // A client that goes away mid-request: just close.
  }
  writer.close();
}

// ---- The client ---------------------------------------------------------------------------

struct Response {
  int status = 0;
  std::string body;
};

asyncio::Coro<Response> fetch(std::string host, std::uint16_t port, std::string path) {
  auto [reader, writer] = co_await asyncio::open_connection(host, port);
  writer.write("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
  co_await writer.drain();
  Response r;
  std::string status_line = co_await reader.readline();  // "HTTP/1.1 200 OK"
  if (status_line.size() > 12) r.status = std::stoi(status_line.substr(9, 3));
  std::size_t length = 0;
  while (true) {
    std::string h = co_await reader.readline();
    if (h.empty() || h == "\r\n") break;
    if (h.starts_with("Content-Length:")) length = std::stoul(h.substr(15));
  }
  r.body = co_await reader.readexactly(length);
  writer.close();
  co_await writer.wait_closed();
  co_return r;
}

asyncio::Coro<int> amain(bool serve_only) {
  asyncio::Server server = co_await asyncio::start_server(serve_http, "127.0.0.1", 0);
  std::uint16_t port = server.sockets().at(0).getsockname().port();
  if (serve_only) {
    std::printf("READY %u\n", port);
    std::fflush(stdout);
    co_await asyncio::to_thread([] {
      std::string line;
      while (std::getline(std::cin, line)) {
      }
    });
    server.close();
    co_await server.wait_closed();
    co_return 0;
  }
  std::printf("HTTP server on http://127.0.0.1:%u/\n", port);
  std::vector<std::string> paths = {"/hello", "/numbers", "/big", "/missing"};
  std::vector<asyncio::Coro<Response>> requests;
  for (const auto& p : paths) requests.push_back(fetch("127.0.0.1", port, p));
  auto t0 = asyncio::get_running_loop().time();
  std::vector<Response> responses = co_await asyncio::gather(std::move(requests));
  auto dt = asyncio::get_running_loop().time() - t0;
  int failures = 0;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    std::printf("GET %-9s -> %d, %zu bytes\n", paths[i].c_str(), responses[i].status,
                responses[i].body.size());
    int expected = paths[i] == "/missing" ? 404 : 200;
    if (responses[i].status != expected) ++failures;
  }
  std::printf("fetched %zu URLs concurrently in %.1f ms\n", paths.size(), dt * 1e3);
  server.close();
  co_await server.wait_closed();
  co_return failures == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  bool serve_only = argc == 2 && std::strcmp(argv[1], "--serve") == 0;
  return asyncio::run_main(amain(serve_only));
}
