# asyncio.Runner as a context manager: one event loop for several top-level run() calls,
# closed (remaining tasks cancelled, loop closed) when the `with` block ends.
import asyncio


async def greet(name, delay):
    await asyncio.sleep(delay)
    print(f"hello, {name}")
    return len(name)


with asyncio.Runner() as runner:
    loop = runner.get_loop()
    n = runner.run(greet("first", 0.1))
    print(f"first run returned {n}")
    n = runner.run(greet("second", 0.2))
    print(f"second run returned {n}")
    if runner.get_loop() is loop:
        print("both runs used the same event loop")
assert loop.is_closed()
print("the with block closed the runner and its loop")
