// asyncio/asyncio.hpp — the whole library (Python: `import asyncio`).
#pragma once

#include "asyncio/async_generator.hpp"
#include "asyncio/awaitable.hpp"
#include "asyncio/contextlib.hpp"
#include "asyncio/coroutines.hpp"
#include "asyncio/events.hpp"
#include "asyncio/except_star.hpp"
#include "asyncio/exceptions.hpp"
#include "asyncio/futures.hpp"
#include "asyncio/gather.hpp"
#include "asyncio/graph.hpp"
#include "asyncio/locks.hpp"
#include "asyncio/net.hpp"
#include "asyncio/net_errors.hpp"
#include "asyncio/outcome.hpp"
#include "asyncio/protocols.hpp"
#include "asyncio/queues.hpp"
#include "asyncio/repr.hpp"
#include "asyncio/runners.hpp"
#include "asyncio/sendfile.hpp"
#include "asyncio/shield.hpp"
#include "asyncio/sockets.hpp"
#include "asyncio/ssl.hpp"
#include "asyncio/streams.hpp"
#include "asyncio/subprocess.hpp"
#include "asyncio/task_factory.hpp"
#include "asyncio/taskgroups.hpp"
#include "asyncio/tasks.hpp"
#include "asyncio/threads.hpp"
#include "asyncio/timeouts.hpp"
#include "asyncio/transports.hpp"
#include "asyncio/unix_events.hpp"
#include "asyncio/wait.hpp"

/// Python 3.12's asyncio in C++20: the event loop, coroutines (Coro), tasks, futures,
/// synchronisation primitives, queues, streams, subprocesses and TLS. Each public function
/// names its Python counterpart; docs/python-mapping.md lists them all.
namespace asyncio {}
