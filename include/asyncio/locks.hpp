// asyncio/locks.hpp — the synchronization primitives (Python: asyncio.locks):
// Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier.
//
// They synchronize tasks of one event loop, not threads: like Python's, they are not
// thread-safe, and each is bound to the first loop a task waits on it from. Every operation
// that may wait is awaited (`co_await lock.acquire()`, `co_await event.wait()`...), is
// cancellable, and never takes nor loses the resource when cancelled. Python's `async with`
// is a guard returned by `co_await x.lock()` (Lock, Condition, Semaphore), released when it
// goes out of scope. Waiting allocates nothing (the waiter lives in the awaiting coroutine's
// frame), except Barrier's coroutines.
//
// Behaviour, including the order in which tasks wake and when a cancellation is seen, is
// CPython 3.12's step for step; each header lists the rules.
#pragma once

#include "asyncio/barrier.hpp"
#include "asyncio/condition.hpp"
#include "asyncio/event.hpp"
#include "asyncio/lock.hpp"
#include "asyncio/semaphore.hpp"
