# asyncio.wait(..., return_when=FIRST_COMPLETED): returns as soon as one task is done; the
# rest are returned as pending, still running, and we cancel them.
import asyncio


async def job(delay):
    await asyncio.sleep(delay)
    return f"slept {delay}s"


async def main():
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = [
        asyncio.create_task(job(0.5), name="fast"),
        asyncio.create_task(job(1.0), name="medium"),
        asyncio.create_task(job(2.0), name="slow"),
    ]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    print(f"wait returned at +{loop.time() - start:.1f}s: {len(done)} done, {len(pending)} pending")
    # done and pending are sets: iterate in creation order for a stable output.
    for t in tasks:
        if t in done:
            print(f"done: {t.get_name()} -> {t.result()}")
    for t in tasks:
        if t in pending:
            t.cancel()
    await asyncio.wait(pending)  # let the cancellations take effect
    for t in tasks:
        if t in pending and t.cancelled():
            print(f"cancelled: {t.get_name()}")
    print(f"finished at +{loop.time() - start:.1f}s")

asyncio.run(main())
