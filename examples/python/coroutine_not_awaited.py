# "Coroutines and Tasks": simply calling a coroutine does not schedule it to be executed.
import asyncio


async def nested():
    return 42


async def main():
    # Nothing happens if we just call "nested()".
    # A coroutine object is created but not awaited,
    # so it *won't run at all*.
    nested()  # Python also warns on stderr: "coroutine 'nested' was never awaited"
    print("nested() called without await: a coroutine object was created, its body did not run")

    # Let's do it differently now and await it:
    print(await nested())  # will print "42".

asyncio.run(main())
