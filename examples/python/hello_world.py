# The first example of the asyncio docs ("Coroutines and Tasks"): a coroutine that prints,
# sleeps one second without blocking the event loop, and prints again.
import asyncio


async def main():
    print('hello')
    await asyncio.sleep(1)
    print('world')

asyncio.run(main())
