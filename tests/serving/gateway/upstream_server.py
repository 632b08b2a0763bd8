"""A tiny model instance for gateway tests: stdlib asyncio HTTP/1.1 with keep-alive, run as a real subprocess.

``python upstream_server.py --name blue-0 [--port 0] [--delay-ms N] [--status N]`` prints ``{"port": N}`` once
listening. Every request gets JSON describing what arrived (instance name, method, path, x-request-id, whether
an Authorization header reached it, body length). Query ``?sleep=MS`` and ``?status=CODE`` override the defaults
per request, ``?eof=1`` answers without a length and closes; ``GET /stats`` returns how many other requests and connections this instance has received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from urllib.parse import parse_qs, urlsplit


class Upstream:
    def __init__(self, name: str, delay_ms: int, status: int) -> None:
        self.name = name
        self.delay_ms = delay_ms
        self.status = status
        self.received = 0
        self.connections = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    raw = await reader.readline()
                    if raw in (b"\r\n", b"\n", b""):
                        break
                    key, _, value = raw.decode("latin-1").partition(":")
                    headers[key.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, payload = await self.answer(method, target, headers, body)
                data = json.dumps(payload).encode()
                reason = "OK" if status == 200 else "Model Says No"
                if "eof=1" in target:
                    # HTTP/1.0 style: no length, the end of the body is the end of the connection.
                    writer.write(f"HTTP/1.1 {status} {reason}\r\nconnection: close\r\n\r\n".encode() + data)
                    await writer.drain()
                    return
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(data)}\r\nx-upstream: {self.name}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, object]]:
        url = urlsplit(target)
        if url.path == "/stats":
            # The /stats connection itself is not counted: callers want to know how many others were opened.
            return 200, {
                "instance": self.name,
                "received": self.received,
                "connections": self.connections - 1,
            }
        self.received += 1
        query = parse_qs(url.query)
        delay_ms = int(query.get("sleep", [self.delay_ms])[0])
        status = int(query.get("status", [self.status])[0])
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        payload: dict[str, object] = {
            "instance": self.name,
            "method": method,
            "path": url.path,
            "request_id": headers.get("x-request-id"),
            "saw_authorization": "authorization" in headers,
            "body_bytes": len(body),
        }
        if status != 200:
            payload["message"] = f"model failure on {self.name}"
        return status, payload


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--status", type=int, default=200)
    args = parser.parse_args()
    upstream = Upstream(args.name, args.delay_ms, args.status)
    server = await asyncio.start_server(upstream.serve, "127.0.0.1", args.port, backlog=1024)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
