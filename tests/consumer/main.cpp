// The consumer program of tests/consumer/run.sh: a tiny project using asyncio the way a user's
// would, built against an installed prefix, add_subdirectory, FetchContent, pkg-config and the
// .deb. It touches each of the library's link dependencies so that a missing one fails the link:
// gather/sleep (the core), to_thread (Threads) and SSLContext (OpenSSL). Output is deterministic;
// run.sh compares it with expected_output.txt.
#include <cstdio>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

asyncio::Coro<int> square(int n) {
  // The largest input sleeps least: gather must still return results in argument order.
  co_await asyncio::sleep(std::chrono::milliseconds(10 * (4 - n)));
  co_return n* n;
}

asyncio::Coro<> amain() {
  auto [a, b, c] = co_await asyncio::gather(square(1), square(2), square(3));
  std::printf("gather: %d %d %d\n", a, b, c);

  int answer = co_await asyncio::to_thread([] { return 6 * 7; });
  std::printf("to_thread: %d\n", answer);

  auto ctx = asyncio::SSLContext::create_default_context();
  std::printf("tls: verify_mode=%s check_hostname=%s\n",
              ctx->verify_mode() == asyncio::VerifyMode::CERT_REQUIRED ? "CERT_REQUIRED" : "other",
              ctx->check_hostname() ? "true" : "false");
  std::puts("done");
}

int main() { return asyncio::run_main(amain()); }
