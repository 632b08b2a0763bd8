"""The Kubernetes storage-initializer: stages a deployment's model and code into its pod's emptyDir.

It runs as `python -m endpointctl.serving.storage` in the deployment's modelcar image (the environment image
plus a layer with the model and code) or, when every source is remote, in the environment image itself; it uses
only the standard library and installs nothing. It copies the modelcar's folders into place, then fetches
`pvc://` (mounted read-only by the pod) and `https://` sources. Each step is one log line; `FAILED: <reason>` and
exit status 1 mark a failure, which the backend reports.

The plan comes as JSON in ENDPOINTCTL_STAGE_PLAN (see the Kubernetes backend's manifests.stage_plan).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

_FETCH_TIMEOUT_S = 120


class StageFailed(Exception):
    pass


def say(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} storage-initializer {message}", flush=True)


def _inside(root: Path, member: str) -> Path:
    path = PurePosixPath(member)
    if path.is_absolute() or ".." in path.parts:
        raise StageFailed(f"archive member {member!r} points outside its folder")
    return root.joinpath(*path.parts)


def copy(item: dict[str, str]) -> int:
    """A modelcar's folder (model or code, baked into the image) copied into the pod's emptyDir."""
    source, target = Path(item["source"]), Path(item["target"])
    if not source.exists():
        raise StageFailed(f"{source}: not in this image (is the storage-initializer running the modelcar?)")
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
        count = sum(1 for path in target.rglob("*") if path.is_file())
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        count = 1
    say(f"copied {source} to {target} ({count} files)")
    return count


def fetch(item: dict[str, str]) -> None:
    scheme, source, target = item["scheme"], item["source"], Path(item["target"])
    target.parent.mkdir(parents=True, exist_ok=True)
    if scheme == "pvc":
        origin = Path(source)
        if not origin.exists():
            raise StageFailed(f"{item['uri']}: nothing at {source} on the claim")
        if origin.is_dir():
            shutil.copytree(origin, target, dirs_exist_ok=True)
        else:
            shutil.copy2(origin, target)
        say(f"copied {item['uri']} to {target}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        download = Path(tmp) / "download"
        try:
            with (
                urllib.request.urlopen(source, timeout=_FETCH_TIMEOUT_S) as response,
                download.open("wb") as out,
            ):
                shutil.copyfileobj(response, out)
        except OSError as exc:
            raise StageFailed(f"cannot download {source}: {exc}") from exc
        path = urllib.parse.urlsplit(source).path
        if path.endswith((".tar.gz", ".tgz")):
            with tarfile.open(download, "r:gz") as tar:
                for member in tar.getmembers():
                    _inside(target, member.name)
                    if not (member.isfile() or member.isdir()):
                        raise StageFailed(f"{source}: {member.name} is not a regular file or folder")
                tar.extractall(target)
        elif path.endswith(".zip"):
            with zipfile.ZipFile(download) as archive:
                for name in archive.namelist():
                    _inside(target, name)
                archive.extractall(target)
        else:
            shutil.copyfile(download, target)
    say(f"downloaded {source} to {target}")


def run(plan: dict[str, Any]) -> None:
    for item in plan.get("copy", []):
        copy(item)
    for item in plan.get("remote", []):
        fetch(item)
    say("storage initialised")


def main() -> int:
    try:
        run(json.loads(os.environ["ENDPOINTCTL_STAGE_PLAN"]))
    except (StageFailed, OSError, KeyError, ValueError, tarfile.TarError, zipfile.BadZipFile) as exc:
        say(f"FAILED: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
