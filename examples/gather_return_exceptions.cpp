// gather_return_exceptions — gather(..., return_exceptions=True): a failure takes the place
// of the value in the results instead of being raised.
//
// Python original (examples/python/gather_return_exceptions.py):
//   results = await asyncio.gather(
//       value(1, 0.1),
//       divide(1, 0, 0.2),   # a / b raises ZeroDivisionError('division by zero')
//       value(3, 0.3),
//       return_exceptions=True,
//   )
//   print(results)           # [1, ZeroDivisionError('division by zero'), 3]
//
// C++ has no ZeroDivisionError (integer division by zero is undefined behaviour), so divide()
// throws std::domain_error("division by zero"). Each result is an asyncio::Outcome<int>: the
// value or the exception. We render an exception the way Python's repr does, as the
// constructor call that would make it: std::domain_error("division by zero"). The printed
// line is thus "[1, std::domain_error("division by zero"), 3]".
#include <cstdio>
#include <stdexcept>
#include <string>

#include <asyncio/asyncio.hpp>

using namespace std::chrono_literals;

asyncio::Coro<int> value(int x, asyncio::Duration delay) {
  co_await asyncio::sleep(delay);
  co_return x;
}

asyncio::Coro<int> divide(int a, int b, asyncio::Duration delay) {
  co_await asyncio::sleep(delay);
  if (b == 0) throw std::domain_error("division by zero");
  co_return a / b;
}

/// Python's repr() of a gather slot: the value, or the exception as a constructor call.
std::string repr(const asyncio::Outcome<int>& r) {
  if (r) return std::to_string(r.value());
  try {
    std::rethrow_exception(r.exception());
  } catch (const std::domain_error& e) {
    return std::string("std::domain_error(\"") + e.what() + "\")";
  } catch (...) {
    return asyncio::describe(r.exception());
  }
}

asyncio::Coro<int> amain() {
  auto [r1, r2, r3] = co_await asyncio::gather(asyncio::return_exceptions, value(1, 100ms),
                                               divide(1, 0, 200ms), value(3, 300ms));
  std::printf("[%s, %s, %s]\n", repr(r1).c_str(), repr(r2).c_str(), repr(r3).c_str());
  co_return 0;
}

int main() {
  return asyncio::run_main(amain());
}
