# "Coroutines and Tasks", sleeping: display the current date every second for 5 seconds,
# using the loop's clock for the deadline. Besides the date (which changes on every run) we
# print a tick number and the elapsed time.
import asyncio
import datetime


async def display_date():
    loop = asyncio.get_running_loop()
    start = loop.time()
    end_time = loop.time() + 5.0
    tick = 0
    while True:
        tick += 1
        print(f"tick {tick} at +{loop.time() - start:.1f}s: {datetime.datetime.now()}")
        if (loop.time() + 1.0) >= end_time:
            break
        await asyncio.sleep(1)

asyncio.run(display_date())
