#!/usr/bin/env python3
"""echo_asyncio.py HOST PORT — the soak tier's event-loop server: one asyncio
loop (epoll selector), one stream per connection, every byte echoed back as it
arrives, the connection closed on EOF.  The socket calls are plain: the
preload is what secures them."""
import asyncio
import sys


async def echo(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError as e:
        print(f"connection error: {e!r}", file=sys.stderr, flush=True)
    finally:
        writer.close()


async def main(host, port):
    # backlog above the load's parallel connects (tests/tools/load_client -p)
    server = await asyncio.start_server(echo, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
