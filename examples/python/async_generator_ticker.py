# PEP 525 (asynchronous generators), the example the language reference gives: ticker() yields
# numbers every *delay* seconds and is consumed by `async for`. Its `finally` runs when it is
# exhausted, and when it is closed early with aclose() after a `break`.
import asyncio


async def ticker(delay, to):
    """Yield numbers from 0 to *to* every *delay* seconds."""
    try:
        for i in range(to):
            yield i
            await asyncio.sleep(delay)
    finally:
        print("ticker closed")


async def main():
    loop = asyncio.get_running_loop()
    start = loop.time()
    async for i in ticker(0.5, 3):
        print(f"tick {i} at +{loop.time() - start:.1f}s")

    gen = ticker(0.5, 100)
    async for i in gen:
        print(f"tock {i} at +{loop.time() - start:.1f}s")
        if i == 1:
            break
    await gen.aclose()
    print(f"done at +{loop.time() - start:.1f}s")

asyncio.run(main())
