# A TCP echo server that shuts down gracefully on SIGTERM: it stops accepting new
# connections, lets the open one finish, then exits. The demo sends itself SIGTERM after 1 s
# (what `kill <pid>` from a shell or a service manager would do).
import asyncio
import os
import signal


async def handle(reader, writer):
    while line := await reader.readline():
        writer.write(line)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def main():
    loop = asyncio.get_running_loop()
    start = loop.time()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"[{loop.time() - start:.1f}s] serving")

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"hello\n")
    await writer.drain()
    print(f"[{loop.time() - start:.1f}s] echoed {(await reader.readline()).decode().strip()!r}")

    loop.call_later(1, os.kill, os.getpid(), signal.SIGTERM)
    await stop
    print(f"[{loop.time() - start:.1f}s] SIGTERM: closing the server")
    server.close()  # stop accepting; the open connection keeps going
    writer.write(b"still there?\n")
    await writer.drain()
    print(f"[{loop.time() - start:.1f}s] echoed {(await reader.readline()).decode().strip()!r}")
    writer.close()
    await writer.wait_closed()
    await server.wait_closed()  # returns once every connection is gone
    loop.remove_signal_handler(signal.SIGTERM)
    print(f"[{loop.time() - start:.1f}s] server closed, bye")

asyncio.run(main())
