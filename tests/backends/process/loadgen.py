"""A closed-loop load generator run as its own process: `python loadgen.py URL KEY BODY STOP_FILE OUT_FILE`.

It keeps CONCURRENCY requests in flight on keep-alive connections until STOP_FILE appears, then writes one
JSON report with every response status and time, and every transport error, so a test can attribute
failures to phases. Raw asyncio streams keep the generator's own CPU cost low on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

CONCURRENCY = 8


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, str, bool]:
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
    }
    await reader.readexactly(int(headers.get("content-length", "0")))
    keep = headers.get("connection", "").lower() != "close"
    return status, headers.get("azureml-model-deployment", ""), keep


async def main(url: str, key: str, body: bytes, stop_file: Path, out_file: Path) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    results: list[tuple[float, int, str]] = []  # (time, status or -1, served_by or error)
    stop = asyncio.Event()

    async def watch() -> None:
        # The stop signal is a file another process creates: polling is the only way to see it.
        while not await asyncio.to_thread(stop_file.exists):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        stop.set()

    async def worker() -> None:
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while not stop.is_set():
            try:
                if connection is None:
                    connection = await asyncio.open_connection(host, port)
                status, served, keep = await asyncio.wait_for(_exchange(*connection, request), 30)
                results.append((time.time(), status, served))
                if not keep:
                    connection[1].close()
                    connection = None
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError) as exc:
                results.append((time.time(), -1, f"{type(exc).__name__}: {exc}"))
                if connection is not None:
                    connection[1].close()
                connection = None
        if connection is not None:
            connection[1].close()

    started = time.time()
    await asyncio.gather(watch(), *(worker() for _ in range(CONCURRENCY)))
    report = json.dumps({"started": started, "ended": time.time(), "results": results})
    await asyncio.to_thread(out_file.write_text, report)


if __name__ == "__main__":
    url_arg, key_arg, body_arg, stop_arg, out_arg = sys.argv[1:6]
    asyncio.run(main(url_arg, key_arg, Path(body_arg).read_bytes(), Path(stop_arg), Path(out_arg)))
