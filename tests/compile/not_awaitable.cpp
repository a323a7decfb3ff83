// Must NOT compile: gather() of something that is not awaitable gives the readable
// static_assert of asyncio/awaitable.hpp ("argument is not awaitable").
#include "asyncio/asyncio.hpp"

asyncio::Coro<> misuse() {
  co_await asyncio::gather(42);
}

int main() {
  asyncio::run(misuse());
}
