// asyncio/locks.hpp — the synchronization primitives (Python: asyncio.locks):
// Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier.
//
// They synchronize tasks of one event loop (not threads). Every operation that may wait is
// awaited (`co_await lock.acquire()`, `co_await event.wait()`...), is cancellable, and never
// takes nor loses the resource when cancelled. Python's `async with` is a guard returned by
// `co_await x.lock()` (Lock, Condition, Semaphore), released when it goes out of scope.
#pragma once

#include "asyncio/barrier.hpp"
#include "asyncio/condition.hpp"
#include "asyncio/event.hpp"
#include "asyncio/lock.hpp"
#include "asyncio/semaphore.hpp"
