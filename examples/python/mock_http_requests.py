# Three mock HTTP requests (each "takes" 2 s of network latency) run concurrently with
# gather(): about 2 s in total instead of 6.
import asyncio


async def fetch(url):
    await asyncio.sleep(2)  # pretend to wait for the server
    print(f"fetched {url}")
    return f"<html>{url}</html>"


async def main():
    loop = asyncio.get_running_loop()
    start = loop.time()
    urls = [
        "https://example.com/a",
        "https://example.com/b",
        "https://example.com/c",
    ]
    pages = await asyncio.gather(*(fetch(url) for url in urls))
    total = sum(len(page) for page in pages)
    print(f"{len(pages)} pages ({total} bytes) in {loop.time() - start:.1f}s "
          f"(one after the other: {2 * len(urls):.1f}s)")

asyncio.run(main())
