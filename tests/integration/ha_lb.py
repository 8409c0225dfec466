#!/usr/bin/env python3
"""A TCP load balancer for the HA tests (docs/ha.md): the shared public_url of
several instances. Each connection goes to the first backend of PORT_FILE.order
that accepts it (the test writes that file, one port a line, to steer Graph's
notifications to a standby), else to the next backend in turn. SIGUSR1 closes
every open connection, so a client's kept-alive one is made again under the
new order. Prints port=N to PORT_FILE once listening.

usage: ha_lb.py PORT_FILE BACKEND_PORT...
"""
import asyncio
import os
import signal
import sys

PORT_FILE = sys.argv[1]
BACKENDS = [int(p) for p in sys.argv[2:]]
turn = 0
open_writers = set()


def candidates():
    global turn
    try:
        with open(PORT_FILE + ".order") as f:
            order = [int(line) for line in f if line.strip()]
    except (OSError, ValueError):
        order = []
    if order:
        return order
    turn += 1
    return [BACKENDS[(turn + i) % len(BACKENDS)] for i in range(len(BACKENDS))]


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
    for port in candidates():
        try:
            breader, bwriter = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), 2)
        except (OSError, asyncio.TimeoutError):
            continue
        pair = (cwriter, bwriter)
        open_writers.add(pair)
        try:
            await asyncio.gather(pipe(creader, bwriter), pipe(breader, cwriter))
        finally:
            open_writers.discard(pair)
        return
    cwriter.close()


def close_all():
    for pair in list(open_writers):
        for w in pair:
            w.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, close_all)
    port = server.sockets[0].getsockname()[1]
    with open(PORT_FILE + ".tmp", "w") as f:
        f.write(f"port={port}\n")
    os.rename(PORT_FILE + ".tmp", PORT_FILE)
    async with server:
        await server.serve_forever()


asyncio.run(main())
