# asyncio.gather(): the awaitables run concurrently and finish in any order, but the results
# come back in the order of the arguments.
import asyncio


async def work(name, delay):
    await asyncio.sleep(delay)
    print(f"{name} finished after {delay}s")
    return name


async def main():
    results = await asyncio.gather(
        work("slow", 0.3),
        work("medium", 0.2),
        work("fast", 0.1),
    )
    print(f"results in argument order: {results}")

asyncio.run(main())
