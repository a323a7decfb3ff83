// Which loops are still alive: lets a finished future that outlives its loop still report an
// exception nobody retrieved, without touching a destroyed loop. Used on error paths only.
#pragma once

#include "asyncio/events.hpp"

namespace asyncio::detail {

bool loop_is_alive(const EventLoop* loop) noexcept;
/// Prints the context to stderr (the default exception handler's format).
void report_without_loop(const ExceptionContext& context) noexcept;
/// Reports from inside a running loop's thread (a guard's destructor, a Coro never awaited):
/// to the running loop's exception handler, naming the current task, or to stderr when no
/// loop runs here. May throw what the handler throws (an allocation failure included).
void report_to_running_loop(ExceptionContext context);

/// The loops a debugger can find (src/graph.cpp: `asyncio::detail::debug_loops`, read by
/// tools/gdb/asyncio.py). Called by EventLoop's constructor and destructor.
void debug_register_loop(EventLoop* loop) noexcept;
void debug_unregister_loop(EventLoop* loop) noexcept;

}  // namespace asyncio::detail
