"""Reading instance and storage-initializer logs from disk: tail N lines, or follow as they grow."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from endpointctl.backends.local.layout import Layout
from endpointctl.core.views import Container, LogLine

FOLLOW_POLL_S = 0.2
_CHUNK = 64 * 1024


def _files(
    layout: Layout, endpoint: str, deployment: str, container: Container, instance: str | None
) -> list[tuple[str, Path]]:
    if container is Container.STORAGE_INITIALIZER:
        return [("", layout.storage_log(endpoint, deployment))]
    directory = layout.log_dir(endpoint, deployment)
    found = sorted(
        directory.glob("inference-server.*.log"), key=lambda p: p.stat().st_mtime if p.exists() else 0
    )
    pairs = [(p.name.removeprefix("inference-server.").removesuffix(".log"), p) for p in found]
    if instance is not None:
        pairs = [pair for pair in pairs if pair[0] == instance]
    return pairs


def tail_lines(path: Path, count: int | None) -> list[str]:
    """The last `count` lines (all if None), reading backwards so a big log costs only what is shown."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return []
    with handle:
        if count is None:
            return handle.read().decode("utf-8", "replace").splitlines()
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        data = b""
        while position > 0 and data.count(b"\n") <= count:
            step = min(_CHUNK, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
        lines = data.decode("utf-8", "replace").splitlines()
        return lines[-count:] if count else []


def read_logs(
    layout: Layout,
    endpoint: str,
    deployment: str,
    *,
    container: Container,
    lines: int | None,
    instance: str | None,
) -> list[LogLine]:
    out: list[LogLine] = []
    for name, path in _files(layout, endpoint, deployment, container, instance):
        out += [LogLine(text, instance=name, container=container) for text in tail_lines(path, lines)]
    return out[-lines:] if lines else out


async def follow_logs(
    layout: Layout, endpoint: str, deployment: str, *, container: Container, instance: str | None
) -> AsyncIterator[LogLine]:
    """New lines of every matching log, including logs of instances that appear later (a rollout)."""
    offsets: dict[Path, int] = {}
    for _, path in _files(layout, endpoint, deployment, container, instance):
        offsets[path] = path.stat().st_size if path.exists() else 0
    partial: dict[Path, bytes] = {}
    while True:
        for name, path in _files(layout, endpoint, deployment, container, instance):
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            start = offsets.get(path, 0)
            if size < start:  # copy-truncate rotation: start over from the beginning
                start, partial[path] = 0, b""
            if size == start:
                continue
            with path.open("rb") as handle:
                handle.seek(start)
                data = partial.pop(path, b"") + handle.read(size - start)
            offsets[path] = size
            *complete, rest = data.split(b"\n")
            if rest:
                partial[path] = rest
            for raw in complete:
                yield LogLine(raw.decode("utf-8", "replace"), instance=name, container=container)
        await asyncio.sleep(FOLLOW_POLL_S)
