# asyncio.shield(): cancelling the task that awaits a shielded task cancels only the waiter;
# the inner task goes on and its result can still be awaited.
import asyncio


async def inner_work():
    print("inner: started")
    await asyncio.sleep(1)
    print("inner: finished")
    return "inner result"


async def waiter(inner):
    return await asyncio.shield(inner)


async def main():
    loop = asyncio.get_running_loop()
    start = loop.time()
    inner = asyncio.create_task(inner_work())
    outer = asyncio.create_task(waiter(inner))
    await asyncio.sleep(0.5)
    outer.cancel()
    try:
        await outer
    except asyncio.CancelledError:
        print(f"main: outer was cancelled at +{loop.time() - start:.1f}s; "
              f"inner is {'cancelled' if inner.cancelled() else 'still running'}")
    result = await inner
    print(f"main: inner returned '{result}' at +{loop.time() - start:.1f}s")

asyncio.run(main())
