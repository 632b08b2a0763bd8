"""Content digests for files and folders, shared by the asset registry and storage initializers."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20
PREFIX = "sha256:"


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def tree_files(root: Path) -> list[Path]:
    """Regular files below root (or root itself), in a stable order. Symlinks are followed once."""
    if root.is_file():
        return [root]
    return sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())


def tree_digest(root: Path) -> str:
    """Digest of a file or folder: names, sizes and contents, independent of mtimes and order on disk.

    A single file hashes under its own name so that renaming the model file changes the digest,
    exactly as renaming a file inside a folder does.
    """
    h = hashlib.sha256()
    base = root.parent if root.is_file() else root
    for path in tree_files(root):
        rel = path.relative_to(base).as_posix()
        h.update(f"{rel}\0{path.stat().st_size}\0{file_digest(path)}\n".encode())
    return PREFIX + h.hexdigest()


def bytes_digest(data: bytes) -> str:
    return PREFIX + hashlib.sha256(data).hexdigest()
