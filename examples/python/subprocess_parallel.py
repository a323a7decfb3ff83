# Runs five commands concurrently, at most two at a time (a Semaphore), and gathers their
# exit codes. Job n sleeps DURATIONS[n] seconds, then exits with code n.
import asyncio

DURATIONS = [0.5, 1.0, 0.3, 0.8, 0.4]


async def job(n, sem, loop, start):
    async with sem:
        print(f"[{loop.time() - start:.1f}s] job {n} started")
        proc = await asyncio.create_subprocess_exec(
            "sh", "-c", f"sleep {DURATIONS[n]}; exit {n}")
        code = await proc.wait()
        print(f"[{loop.time() - start:.1f}s] job {n} exited with {code}")
        return code


async def main():
    sem = asyncio.Semaphore(2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    codes = await asyncio.gather(*(job(n, sem, loop, start) for n in range(len(DURATIONS))))
    print(f"[{loop.time() - start:.1f}s] exit codes: {codes}")

asyncio.run(main())
