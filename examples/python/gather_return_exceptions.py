# asyncio.gather(..., return_exceptions=True): exceptions are returned in the result list,
# in place of the failed awaitable's value, instead of being raised.
import asyncio


async def value(x, delay):
    await asyncio.sleep(delay)
    return x


async def divide(a, b, delay):
    await asyncio.sleep(delay)
    return a / b


async def main():
    results = await asyncio.gather(
        value(1, 0.1),
        divide(1, 0, 0.2),
        value(3, 0.3),
        return_exceptions=True,
    )
    print(results)

asyncio.run(main())
