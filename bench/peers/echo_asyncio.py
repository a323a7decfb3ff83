"""Python asyncio / uvloop echo server: the Protocol API (data_received -> transport.write).

    python3 echo_asyncio.py [--uvloop] [--tls CERT KEY] PORT

--tls: TLS over the same Protocol (loop.create_server(..., ssl=context)), with the settings
shared by every TLS peer of the benchmark (bench/README.md, "TLS"): TLS 1.3 only, no session
tickets.
"""
import asyncio
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


def tls_context(cert, key):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.options |= ssl.OP_NO_TICKET
    ctx.num_tickets = 0  # no session resumption
    return ctx


async def main(port, ssl_ctx):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", port, backlog=1024, ssl=ssl_ctx)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    args = sys.argv[1:]
    ssl_ctx = None
    if "--tls" in args:
        i = args.index("--tls")
        ssl_ctx = tls_context(args[i + 1], args[i + 2])
        del args[i:i + 3]
    port = int(next(a for a in args if not a.startswith("--")))
    if "--uvloop" in args:
        import uvloop
        uvloop.install()
    try:
        asyncio.run(main(port, ssl_ctx))
    except KeyboardInterrupt:
        pass
