# "Coroutines and Tasks": asyncio.TaskGroup, the modern alternative to create_task(). The
# `async with` waits for every task of the group; results are read after it.
import asyncio


async def say_after(delay, what):
    await asyncio.sleep(delay)
    print(what)
    return what


async def main():
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with asyncio.TaskGroup() as tg:
        task1 = tg.create_task(say_after(1, 'hello'))
        task2 = tg.create_task(say_after(2, 'world'))

        print(f"started at +{loop.time() - start:.1f}s")

    # The await is implicit when the context manager exits.

    print(f"finished at +{loop.time() - start:.1f}s")
    print(f"Both tasks have completed now: {task1.result()}, {task2.result()}")

asyncio.run(main())
