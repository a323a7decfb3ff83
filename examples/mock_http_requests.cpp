// mock_http_requests — three mock HTTP requests (2 s of "network latency" each) run
// concurrently with gather(): about 2 s in total instead of 6.
//
// Python original (examples/python/mock_http_requests.py):
//   async def fetch(url):
//       await asyncio.sleep(2)  # pretend to wait for the server
//       print(f"fetched {url}")
//       return f"<html>{url}</html>"
//
//   pages = await asyncio.gather(*(fetch(url) for url in urls))
//
// `gather(*coros)` over a list becomes gather(std::vector<Coro<T>>), which gives a
// std::vector of the results in order.
#include <cstdio>
#include <string>
#include <vector>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

asyncio::Coro<std::string> fetch(std::string url) {
  co_await asyncio::sleep(2s);  // pretend to wait for the server
  std::printf("fetched %s\n", url.c_str());
  co_return "<html>" + url + "</html>";
}

asyncio::Coro<int> amain() {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  const double start = loop.time();
  const std::vector<std::string> urls{
      "https://example.com/a",
      "https://example.com/b",
      "https://example.com/c",
  };
  std::vector<asyncio::Coro<std::string>> requests;
  for (const auto& url : urls) requests.push_back(fetch(url));
  std::vector<std::string> pages = co_await asyncio::gather(std::move(requests));
  std::size_t total = 0;
  for (const auto& page : pages) total += page.size();
  std::printf("%zu pages (%zu bytes) in %.1fs (one after the other: %.1fs)\n", pages.size(), total,
              loop.time() - start, 2.0 * static_cast<double>(urls.size()));
  co_return 0;
}

int main() {
  return asyncio::run_main(amain());
}
