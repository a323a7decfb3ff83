// asyncio/asyncio.hpp — the whole library (Python: `import asyncio`).
#pragma once

#include "asyncio/coroutines.hpp"
#include "asyncio/events.hpp"
#include "asyncio/exceptions.hpp"
#include "asyncio/futures.hpp"
#include "asyncio/tasks.hpp"
#include "asyncio/gather.hpp"
#include "asyncio/outcome.hpp"
#include "asyncio/queues.hpp"
#include "asyncio/runners.hpp"
#include "asyncio/shield.hpp"
#include "asyncio/taskgroups.hpp"
#include "asyncio/threads.hpp"
#include "asyncio/timeouts.hpp"
#include "asyncio/wait.hpp"
