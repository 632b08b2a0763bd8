"""A minimal fast model stand-in: a fixed JSON answer from a raw asyncio Protocol, keep-alive, uvloop if present.

Used with ``--upstream fast`` to measure the gateway against an upstream that costs almost nothing, which makes
the gateway's own overhead the largest part of the latency. Prints ``{"port": N}`` once listening;
``fast_upstream.py PORT SOCKET`` also listens on a Unix socket.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import cast

BODY = b"[4952.815189530527, 3830.0435194872953]"
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)


class FastProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                length = int(head[marker + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            assert self.transport is not None
            self.transport.write(RESPONSE)


async def main(port: int, uds: str | None) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FastProtocol, "127.0.0.1", port, backlog=1024)
    if uds is not None:
        # The same answers on a Unix socket too, so one process can be reached both ways (bench.gateway.hop).
        await loop.create_unix_server(FastProtocol, uds, backlog=1024)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    chosen = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    socket_path = sys.argv[2] if len(sys.argv) > 2 else None
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(chosen, socket_path))
    else:
        uvloop.run(main(chosen, socket_path))
