// Must NOT compile: async_with() of a temporary that cannot be moved (a TaskGroup). The
// operation is lazy, so a referenced temporary would be gone when a stored operation or a
// task runs it; the static_assert of asyncio/contextlib.hpp asks for a named object.
#include "asyncio/asyncio.hpp"

asyncio::Coro<> misuse() {
  auto op = asyncio::async_with(asyncio::TaskGroup(),
                                [](asyncio::TaskGroup&) -> asyncio::Coro<> { co_return; });
  co_await std::move(op);
}

int main() {
  asyncio::run(misuse());
}
