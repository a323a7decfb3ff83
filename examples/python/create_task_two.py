# "Coroutines and Tasks": asyncio.create_task() runs two say_after() coroutines concurrently,
# so the whole thing takes 2 seconds, not 3. The docs print time.strftime('%X'); we print the
# elapsed time instead so that the output is the same on every run.
import asyncio


async def say_after(delay, what):
    await asyncio.sleep(delay)
    print(what)


async def main():
    loop = asyncio.get_running_loop()
    start = loop.time()

    task1 = asyncio.create_task(say_after(1, 'hello'))
    task2 = asyncio.create_task(say_after(2, 'world'))

    print(f"started at +{loop.time() - start:.1f}s")

    # Wait until both tasks are completed (should take around 2 seconds.)
    await task1
    await task2

    print(f"finished at +{loop.time() - start:.1f}s")

asyncio.run(main())
