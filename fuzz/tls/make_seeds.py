"""Writes the TLS fuzz target's seed corpus: real handshake flights captured in memory.

Run once from the repository root (CPython's ssl module, the certificate in fuzz/tls/):
    python3 fuzz/tls/make_seeds.py
Seed layout (see tls_record_fuzz.cpp): flags byte, chunking seed byte, then the peer's bytes.
"""
import os
import ssl

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "corpus", "tls_record_fuzz")


def flights(max_version):
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(os.path.join(HERE, "cert.pem"), os.path.join(HERE, "key.pem"))
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(os.path.join(HERE, "cert.pem"))
    for ctx in (server, client):
        ctx.maximum_version = max_version
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_hostname="localhost")
    s = server.wrap_bio(s_in, s_out, server_side=True)
    to_server, to_client = [], []
    for _ in range(6):
        for obj in (c, s):
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                pass
        data = c_out.read()
        if data:
            to_server.append(data)
            s_in.write(data)
        data = s_out.read()
        if data:
            to_client.append(data)
            c_in.write(data)
    return to_server, to_client


def write(name, flags, payload):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes([flags, 7]) + payload)


os.makedirs(OUT, exist_ok=True)
for version, bit in ((ssl.TLSVersion.TLSv1_3, 0), (ssl.TLSVersion.TLSv1_2, 2)):
    tag = "tls13" if bit == 0 else "tls12"
    to_server, to_client = flights(version)
    write(f"seed-server-{tag}-clienthello", 1 | bit, to_server[0])
    write(f"seed-server-{tag}-all-client-flights", 1 | bit, b"".join(to_server))
    write(f"seed-client-{tag}-serverhello", 0 | bit, to_client[0])
    write(f"seed-client-{tag}-serverhello-eof", 4 | bit, to_client[0])
    write(f"seed-client-{tag}-all-server-flights", 0 | bit, b"".join(to_client))
write("seed-garbage-http", 1, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
write("seed-empty-client", 0, b"")
