# asyncio.gather() without return_exceptions: the first exception propagates at once to the
# task awaiting the gather, but the other awaitables are NOT cancelled: they keep running.
import asyncio


def since(start):
    return asyncio.get_running_loop().time() - start


async def worker(name, delay, start):
    await asyncio.sleep(delay)
    print(f"{name} finished at +{since(start):.1f}s")
    return name


async def fail_after(delay):
    await asyncio.sleep(delay)
    raise ValueError("boom")


async def main():
    start = asyncio.get_running_loop().time()
    slow1 = asyncio.create_task(worker("slow-1", 1.0, start))
    failing = asyncio.create_task(fail_after(0.5))
    slow2 = asyncio.create_task(worker("slow-2", 1.5, start))
    try:
        await asyncio.gather(slow1, failing, slow2)
    except ValueError as e:
        print(f"gather raised ValueError: {e} at +{since(start):.1f}s")
    print("the other tasks keep running")
    r1 = await slow1
    r2 = await slow2
    print(f"results: {r1}, {r2} at +{since(start):.1f}s")

asyncio.run(main())
