"""The storage-initializer's program: runs inside the init container with only the standard library.

It copies the bind-mounted model and code into the app volume in the reference's layout and checks each
staged copy against the digest the host computed (the same algorithm as `endpointctl.core.digest`), so a
copy that differs from the registry's blob fails the revision before any instance starts. Every step is
one line on stdout, which is the init container's log. Exit status 1 means staging failed.

Usage: python stage_script.py '<json plan>' (see storage.py for the plan's fields).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import sys
import time
from pathlib import Path
from typing import Any

MODELS_DIR = "azureml-models"
_CHUNK = 1 << 20


class StageFailed(Exception):
    pass


def say(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} storage-initializer {message}", flush=True)


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def tree_digest(root: Path) -> str:
    """Identical to endpointctl.core.digest.tree_digest (tests check they agree)."""
    if root.is_file():
        files, base = [root], root.parent
    else:
        files = sorted(
            (p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix()
        )
        base = root
    h = hashlib.sha256()
    for path in files:
        rel = path.relative_to(base).as_posix()
        h.update(f"{rel}\0{path.stat().st_size}\0{file_digest(path)}\n".encode())
    return "sha256:" + h.hexdigest()


def remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        # Model files are read-only; make them writable again so a retry can replace them.
        for inner in path.rglob("*"):
            if not inner.is_symlink():
                inner.chmod(inner.stat().st_mode | stat.S_IWUSR)
        shutil.rmtree(path)


def copy(source: Path, target: Path, *, read_only: bool) -> tuple[int, int]:
    if not source.exists():
        raise StageFailed(f"{source} does not exist (a broken symlink or a missing mount)")
    if source.is_file():
        pairs = [(source, target)]
    else:
        pairs = [(p, target / p.relative_to(source)) for p in sorted(source.rglob("*")) if p.is_file()]
        target.mkdir(parents=True, exist_ok=True)
    files = size = 0
    for src, dst in pairs:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        if read_only:
            dst.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        length = dst.stat().st_size
        files, size = files + 1, size + length
        say(f"  copied {src} -> {dst} ({length} B)")
    return files, size


def stage(kind: str, item: dict[str, Any], final: Path) -> None:
    """Copy `item['source']` to `final` by way of a hidden partial folder, then verify and rename."""
    source = Path(item["source"])
    partial = final.parent / f".{final.name}.partial"
    remove(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    say(f"staging {kind} {item['label']} from {item['origin']}")
    try:
        files, size = copy(source, partial, read_only=kind == "model")
        # Digest of the staged copy under its final name: a single file hashes under its own name.
        digest = tree_digest_as(partial, source.name)
        if digest != item["digest"]:
            raise StageFailed(
                f"{kind} {item['label']}: digest mismatch: expected {item['digest']}, "
                f"the staged copy of {item['origin']} is {digest}"
            )
        say(f"{kind} {item['label']}: {files} files, {size} B, digest {digest} OK")
        remove(final)
        partial.rename(final)
    finally:
        remove(partial)


def tree_digest_as(path: Path, name: str) -> str:
    """The digest `path` would have if it were called `name` (matters for single files only)."""
    if path.is_dir():
        return tree_digest(path)
    h = hashlib.sha256()
    h.update(f"{name}\0{path.stat().st_size}\0{file_digest(path)}\n".encode())
    return "sha256:" + h.hexdigest()


def main(plan: dict[str, Any]) -> int:
    app = Path(plan["app"])
    try:
        if model := plan.get("model"):
            version_dir = app / MODELS_DIR / model["name"] / model["version"]
            stage("model", model, version_dir / model["folder"])
        if code := plan.get("code"):
            target = app / code["folder"]
            stage("code", code, target)
            if not (target / code["script"]).is_file():
                raise StageFailed(
                    f"scoring_script {code['script']} not found in code folder {code['origin']}"
                )
    except (StageFailed, OSError) as exc:
        say(f"FAILED: {exc}")
        return 1
    say("storage initialised: " + " ".join(f"{k}={v}" for k, v in sorted(plan.get("env", {}).items())))
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main(json.loads(sys.argv[1])))
