# Runs a command and reads its output line by line, as the lines arrive (not all at the end).
import asyncio


async def main():
    loop = asyncio.get_running_loop()
    start = loop.time()
    proc = await asyncio.create_subprocess_exec(
        "sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.5; done",
        stdout=asyncio.subprocess.PIPE)
    while True:
        line = await proc.stdout.readline()
        if not line:
            break
        print(f"[{loop.time() - start:.1f}s] {line.decode().rstrip()}")
    code = await proc.wait()
    print(f"[{loop.time() - start:.1f}s] exit code {code}")

asyncio.run(main())
