#!/usr/bin/env python3
"""A TCP load balancer for the HA tests (docs/ha.md): the shared public_url of
several instances. Each connection goes to the next backend in turn (round
robin, so Graph's notifications reach standbys too); a backend that refuses
the connection is skipped. Prints port=N once listening.

usage: ha_lb.py PORT_FILE BACKEND_PORT...
"""
import asyncio
import sys

BACKENDS = [int(p) for p in sys.argv[2:]]
turn = 0


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except ConnectionError:
            pass


async def handle(creader, cwriter):
    global turn
    for _ in range(len(BACKENDS)):
        port = BACKENDS[turn % len(BACKENDS)]
        turn += 1
        try:
            breader, bwriter = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), 2)
        except (OSError, asyncio.TimeoutError):
            continue
        await asyncio.gather(pipe(creader, bwriter), pipe(breader, cwriter))
        return
    cwriter.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with open(sys.argv[1], "w") as f:
        f.write(f"port={port}\n")
    async with server:
        await server.serve_forever()


asyncio.run(main())
