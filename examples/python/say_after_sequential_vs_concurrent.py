# "Coroutines and Tasks": awaiting say_after() twice runs the calls one after the other (3 s);
# wrapping them in tasks runs them concurrently (2 s). The docs print time.strftime('%X');
# we print the elapsed time so that the output is the same on every run.
import asyncio


async def say_after(delay, what):
    await asyncio.sleep(delay)
    print(what)


async def sequential():
    loop = asyncio.get_running_loop()
    start = loop.time()
    print(f"started at +{loop.time() - start:.1f}s")

    await say_after(1, 'hello')
    await say_after(2, 'world')

    print(f"finished at +{loop.time() - start:.1f}s")


async def concurrent():
    loop = asyncio.get_running_loop()
    start = loop.time()
    task1 = asyncio.create_task(say_after(1, 'hello'))
    task2 = asyncio.create_task(say_after(2, 'world'))

    print(f"started at +{loop.time() - start:.1f}s")

    # Wait until both tasks are completed (should take around 2 seconds.)
    await task1
    await task2

    print(f"finished at +{loop.time() - start:.1f}s")


async def main():
    print("sequential:")
    await sequential()
    print("concurrent:")
    await concurrent()

asyncio.run(main())
