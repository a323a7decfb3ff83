# asyncio.timeout(): `async with asyncio.timeout(0.5)` around a sleep of "random" length. The
# durations are fixed (0.2 s, then 1.0 s) so that the output is the same on every run.
import asyncio


async def main():
    loop = asyncio.get_running_loop()
    start = loop.time()
    for round_no, delay in enumerate((0.2, 1.0), start=1):
        try:
            async with asyncio.timeout(0.5):
                await asyncio.sleep(delay)
            print(f"round {round_no}: sleep({delay}) finished at +{loop.time() - start:.1f}s")
        except TimeoutError:
            print(f"round {round_no}: sleep({delay}) timed out at +{loop.time() - start:.1f}s")

asyncio.run(main())
