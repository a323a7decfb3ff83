// Which loops are still alive: lets a finished future that outlives its loop still report an
// exception nobody retrieved, without touching a destroyed loop. Used on error paths only.
#pragma once

#include "asyncio/events.hpp"

namespace asyncio::detail {

bool loop_is_alive(const EventLoop* loop) noexcept;
/// Prints the context to stderr (the default exception handler's format).
void report_without_loop(const ExceptionContext& context) noexcept;

}  // namespace asyncio::detail
