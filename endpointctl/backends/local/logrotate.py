"""Bounded logs: copy-and-truncate, so instances keep writing to the same O_APPEND descriptor."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

MAX_BYTES = 10 * 1024 * 1024
KEEP = 2


def rotate_logs(root: Path, *, max_bytes: int = MAX_BYTES, keep: int = KEEP) -> list[Path]:
    rotated: list[Path] = []
    if not root.is_dir():
        return rotated
    for path in root.rglob("*.log"):
        try:
            if path.stat().st_size <= max_bytes:
                continue
        except FileNotFoundError:
            continue
        for index in range(keep - 1, 0, -1):
            older = path.with_name(f"{path.name}.{index}")
            if older.exists():
                older.replace(path.with_name(f"{path.name}.{index + 1}"))
        shutil.copyfile(path, path.with_name(f"{path.name}.1"))
        with contextlib.suppress(FileNotFoundError):
            os.truncate(path, 0)
        rotated.append(path)
    return rotated
