"""Python asyncio / uvloop version of the micro-workloads (bench/micro/asyncio_micro.cpp).

    python3 micro_asyncio.py [--uvloop] WORKLOAD [--n N] [--depth D] [--delay S]

Prints one JSON line like the C++ binaries. Workloads: spawn, chain, switch_future,
switch_event, switch_queue, sleepers, gather, timers, lock, lock_guard, to_thread.
"""
import asyncio
import gc
import json
import os
import sys
import time
import tracemalloc

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def now_ns():
    """Wall clock."""
    return time.perf_counter_ns()


def cpu_ns():
    """CPU time of the process (user + system): what the per-operation figures use, as the
    C++ binaries do (a process waiting for a CPU on a shared machine accumulates none)."""
    return time.process_time_ns()


async def trivial():
    return None


async def value(i):
    return i


# ---- spawn -----------------------------------------------------------------------------------
async def spawn_main(n, r, factory=None):
    if factory == "eager":  # --factory eager: Python 3.12's eager_task_factory
        asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
    create_task = asyncio.create_task
    r0 = rss_bytes()
    t0 = cpu_ns()
    tasks = [create_task(trivial()) for _ in range(n)]
    r1 = rss_bytes()  # the peak: every task and coroutine exists
    for t in tasks:
        await t
    t1 = cpu_ns()
    dt = t1 - t0
    r["ns_per_task"] = dt / n
    r["tasks_per_s"] = n / (dt / 1e9)
    r["rss_bytes_per_task"] = (r1 - r0) / n


# ---- await chain -----------------------------------------------------------------------------
async def chain(depth):
    if depth == 0:
        return 0
    return await chain(depth - 1) + 1


async def chain_main(n, depth, r):
    s = await chain(depth)
    t0 = cpu_ns()
    for _ in range(n):
        s += await chain(depth)
    t1 = cpu_ns()
    assert s == (n + 1) * depth
    r["ns_per_level"] = (t1 - t0) / (n * depth)


# ---- switch ----------------------------------------------------------------------------------
async def switch_future_main(n, r):
    loop = asyncio.get_running_loop()
    st = {"a": None, "b": loop.create_future()}

    async def ping():
        for _ in range(n):
            st["a"] = loop.create_future()
            st["b"].set_result(None)
            await st["a"]

    async def pong():
        for _ in range(n):
            await st["b"]
            st["b"] = loop.create_future()
            st["a"].set_result(None)

    t0 = cpu_ns()
    b = asyncio.create_task(pong())
    a = asyncio.create_task(ping())
    await a
    await b
    t1 = cpu_ns()
    r["ns_per_switch"] = (t1 - t0) / (2 * n)


async def switch_event_main(n, r):
    ea, eb = asyncio.Event(), asyncio.Event()

    async def ping():
        for _ in range(n):
            eb.set()
            await ea.wait()
            ea.clear()

    async def pong():
        for _ in range(n):
            await eb.wait()
            eb.clear()
            ea.set()

    t0 = cpu_ns()
    b = asyncio.create_task(pong())
    a = asyncio.create_task(ping())
    await a
    await b
    t1 = cpu_ns()
    r["ns_per_switch"] = (t1 - t0) / (2 * n)


async def switch_queue_main(n, r):
    qa, qb = asyncio.Queue(), asyncio.Queue()

    async def ping():
        for i in range(n):
            qb.put_nowait(i)
            await qa.get()

    async def pong():
        for _ in range(n):
            v = await qb.get()
            qa.put_nowait(v)

    t0 = cpu_ns()
    b = asyncio.create_task(pong())
    a = asyncio.create_task(ping())
    await a
    await b
    t1 = cpu_ns()
    r["ns_per_switch"] = (t1 - t0) / (2 * n)


async def lock_main(n, r):
    lock = asyncio.Lock()
    t0 = cpu_ns()
    for _ in range(n):
        await lock.acquire()
        lock.release()
    t1 = cpu_ns()
    r["ns_per_op"] = (t1 - t0) / n


async def lock_guard_main(n, r):
    lock = asyncio.Lock()
    t0 = cpu_ns()
    for _ in range(n):
        async with lock:
            pass
    t1 = cpu_ns()
    r["ns_per_op"] = (t1 - t0) / n


def add_one(v):
    return v + 1


async def to_thread_main(n, r):
    await asyncio.to_thread(add_one, 0)
    s = 0
    t0, c0 = now_ns(), cpu_ns()
    for _ in range(n):
        s = await asyncio.to_thread(add_one, s)
    c1, t1 = cpu_ns(), now_ns()
    assert s == n
    r["ns_per_op"] = (t1 - t0) / n
    r["cpu_ns_per_op"] = (c1 - c0) / n


# ---- sleepers --------------------------------------------------------------------------------
async def sleeper(delay):
    await asyncio.sleep(delay)


async def sleepers_main(n, delay, r):
    create_task = asyncio.create_task
    r0 = rss_bytes()
    t0 = now_ns()
    c0 = cpu_ns()
    tasks = [create_task(sleeper(delay)) for _ in range(n)]
    c_created = cpu_ns()
    await asyncio.sleep(0)  # one iteration: every task has started and is sleeping
    r1 = rss_bytes()
    for t in tasks:
        await t
    t1 = now_ns()
    c1 = cpu_ns()
    r["wall_s"] = (t1 - t0) / 1e9
    r["create_ns_per_task"] = (c_created - c0) / n
    r["cpu_s"] = (c1 - c0) / 1e9
    r["overhead_s"] = (t1 - t0) / 1e9 - delay
    r["rss_bytes_per_task"] = (r1 - r0) / n


# ---- gather ----------------------------------------------------------------------------------
async def gather_main(n, r):
    r0 = rss_bytes()
    t0 = cpu_ns()
    out = await asyncio.gather(*[value(i) for i in range(n)])
    t1 = cpu_ns()
    r1 = rss_bytes()
    assert len(out) == n and out[-1] == n - 1
    dt = t1 - t0
    r["ns_per_task"] = dt / n
    r["tasks_per_s"] = n / (dt / 1e9)
    r["rss_bytes_per_task"] = (r1 - r0) / n


# ---- timers ----------------------------------------------------------------------------------
class Lcg:
    """Same delays as bench_common.hpp's Lcg: 0.1 s + x * 0.1 s."""

    def __init__(self):
        self.s = 12345

    def next01(self):
        self.s = (self.s * 1664525 + 1013904223) & 0xFFFFFFFF
        return (self.s >> 8) / float(1 << 24)


async def timers_pass(n, r, trace):
    loop = asyncio.get_running_loop()
    expected = n - n // 2
    done = loop.create_future()
    fired = [0]

    def on_fire():
        fired[0] += 1
        if fired[0] == expected:
            done.set_result(None)

    handles = [None] * n
    lcg = Lcg()
    delays = [0.1 + 0.1 * lcg.next01() for _ in range(n)]
    call_later = loop.call_later
    gc.collect()
    if trace:
        tracemalloc.start()
    m = (lambda: tracemalloc.get_traced_memory()[0]) if trace else rss_bytes
    m0 = m()
    t0 = cpu_ns()
    for i in range(n):
        handles[i] = call_later(delays[i], on_fire)
    t1 = cpu_ns()
    m1 = m()
    for i in range(1, n, 2):
        handles[i].cancel()
        handles[i] = None
    t2 = cpu_ns()
    m2 = m()
    await done
    t3 = cpu_ns()
    del handles
    gc.collect()
    m3 = m()
    if trace:
        tracemalloc.stop()
        r["heap_bytes_per_timer"] = (m1 - m0) / n
        r["heap_bytes_per_timer_after_cancel"] = (m2 - m0) / n
        r["retained_after_cancel_pct"] = 100.0 * (m2 - m0) / (m1 - m0) if m1 > m0 else 0.0
        r["heap_bytes_per_timer_after_run"] = (m3 - m0) / n
    else:
        r["insert_ns"] = (t1 - t0) / n
        r["cancel_ns"] = (t2 - t1) / (n // 2)
        r["fire_ns"] = (t3 - t2) / expected
        r["rss_bytes_per_timer"] = (m1 - m0) / n
        r["rss_bytes_per_timer_after_cancel"] = (m2 - m0) / n


async def timers_main(n, r):
    # Timing pass, then the same again under tracemalloc for the heap figures (tracemalloc
    # slows allocation, so it must not be on during the timed pass).
    await timers_pass(n, r, trace=False)
    await timers_pass(n, r, trace=True)


def main():
    argv = sys.argv[1:]
    use_uvloop = False
    if argv and argv[0] == "--uvloop":
        use_uvloop = True
        argv = argv[1:]
    workload = argv[0]
    kv = {argv[i].lstrip("-"): argv[i + 1] for i in range(1, len(argv) - 1, 2)}
    defaults = {"spawn": 1000000, "chain": 2000, "switch_future": 500000, "switch_event": 500000,
                "switch_queue": 500000, "sleepers": 1000000, "gather": 100000, "timers": 1000000,
                "lock": 500000, "lock_guard": 500000, "to_thread": 20000}
    n = int(kv.get("n", defaults[workload]))
    sys.setrecursionlimit(100000)
    r = {}
    mains = {
        "spawn": lambda: spawn_main(n, r, kv.get("factory")),
        "chain": lambda: chain_main(n, int(kv.get("depth", 1000)), r),
        "switch_future": lambda: switch_future_main(n, r),
        "switch_event": lambda: switch_event_main(n, r),
        "switch_queue": lambda: switch_queue_main(n, r),
        "sleepers": lambda: sleepers_main(n, float(kv.get("delay", 1.0)), r),
        "gather": lambda: gather_main(n, r),
        "timers": lambda: timers_main(n, r),
        "lock": lambda: lock_main(n, r),
        "lock_guard": lambda: lock_guard_main(n, r),
        "to_thread": lambda: to_thread_main(n, r),
    }
    if use_uvloop:
        import uvloop
        impl = "uvloop"
        loop = uvloop.new_event_loop()
    else:
        impl = "python-asyncio"
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(mains[workload]())
    finally:
        loop.close()
    impl += "-%d.%d" % sys.version_info[:2]
    print(json.dumps({"impl": impl, "workload": workload, "n": n, "metrics": r}), flush=True)


if __name__ == "__main__":
    main()
