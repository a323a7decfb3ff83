#!/usr/bin/env python3
"""Python asyncio peer for the interop tests (tests/interop_test.cpp).

Servers print "READY <port-or-path>" on stdout once listening, then serve until stdin
closes or --timeout seconds pass. Clients print what they received and exit 0 on success.

  asyncio_peer.py server tcp|tls|unix|unix-tls|udp  [--host H] [--path P] [--cert C --key K]
  asyncio_peer.py client tcp|tls|unix|unix-tls|udp  --host H --port N | --path P [--ca CA]
"""
import argparse
import asyncio
import hashlib
import socket
import ssl
import sys


def server_ctx(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    return ctx


def client_ctx(a):
    ctx = ssl.create_default_context(cafile=a.ca)
    return ctx


async def handle(reader, writer):
    # Line echo: "echo: <line>"; "sha256 <n>\n" then n bytes: answers the digest.
    while True:
        line = await reader.readline()
        if not line:
            break
        if line.startswith(b"sha256 "):
            n = int(line.split()[1])
            data = await reader.readexactly(n)
            writer.write(hashlib.sha256(data).hexdigest().encode() + b"\n")
        else:
            writer.write(b"echo: " + line)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


class EchoDatagram(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(b"echo: " + data, addr)


async def wait_stdin_eof(timeout):
    loop = asyncio.get_running_loop()
    fut = loop.run_in_executor(None, sys.stdin.read)
    try:
        await asyncio.wait_for(fut, timeout)
    except asyncio.TimeoutError:
        pass


async def run_server(a):
    kind = a.kind
    if kind == "udp":
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            EchoDatagram, local_addr=(a.host, 0))
        print("READY", transport.get_extra_info("sockname")[1], flush=True)
        await wait_stdin_eof(a.timeout)
        transport.close()
        return 0
    ctx = server_ctx(a) if kind.endswith("tls") else None
    if kind.startswith("unix"):
        server = await asyncio.start_unix_server(handle, a.path, ssl=ctx)
        print("READY", a.path, flush=True)
    else:
        server = await asyncio.start_server(handle, a.host, 0, ssl=ctx)
        print("READY", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await wait_stdin_eof(a.timeout)
    return 0


async def run_client(a):
    kind = a.kind
    if kind == "udp":
        loop = asyncio.get_running_loop()
        got = loop.create_future()

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                if not got.done():
                    got.set_result(data)

        transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=(a.host, a.port))
        for _ in range(50):
            transport.sendto(b"hello udp")
            try:
                data = await asyncio.wait_for(asyncio.shield(got), 0.1)
                break
            except asyncio.TimeoutError:
                continue
        transport.close()
        print(got.result().decode(), flush=True)
        return 0 if got.result() == b"echo: hello udp" else 1
    ctx = client_ctx(a) if kind.endswith("tls") else None
    if kind.startswith("unix"):
        reader, writer = await asyncio.open_unix_connection(
            a.path, ssl=ctx, server_hostname="localhost" if ctx else None)
    else:
        reader, writer = await asyncio.open_connection(a.host, a.port, ssl=ctx)
    writer.write(b"hello from python\n")
    await writer.drain()
    line = await reader.readline()
    print(line.decode().rstrip("\n"), flush=True)
    payload = bytes(range(256)) * 4096  # 1 MiB
    writer.write(b"sha256 %d\n" % len(payload))
    writer.write(payload)
    await writer.drain()
    digest = (await reader.readline()).decode().strip()
    ok = digest == hashlib.sha256(payload).hexdigest()
    print("digest", "ok" if ok else "BAD", flush=True)
    writer.close()
    await writer.wait_closed()
    return 0 if line == b"echo: hello from python\n" and ok else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("kind", choices=["tcp", "tls", "unix", "unix-tls", "udp"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--path")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--ca")
    p.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()
    coro = run_server(a) if a.role == "server" else run_client(a)
    sys.exit(asyncio.run(asyncio.wait_for(coro, a.timeout + 5)))


if __name__ == "__main__":
    main()
