"""Python asyncio / uvloop echo server: the Protocol API (data_received -> transport.write).

    python3 echo_asyncio.py [--uvloop] PORT
"""
import asyncio
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    port = int(next(a for a in sys.argv[1:] if not a.startswith("--")))
    if "--uvloop" in sys.argv:
        import uvloop
        uvloop.install()
    try:
        asyncio.run(main(port))
    except KeyboardInterrupt:
        pass
