"""The storage-initializer's program, run by the environment image's Python with only the standard library.

It unpacks the package ConfigMap (model, code, scoring host, requirements) into the pod's emptyDir, fetches
`pvc://` (mounted read-only by the pod) and `https://` sources, then installs the requirements with
`pip install --target` so the inference server needs nothing from the image but Python and pip. Each step is
one log line; `FAILED: <reason>` and exit status 1 mark a failure, which the backend reports.

The plan comes as JSON in ENDPOINTCTL_STAGE_PLAN (see manifests.stage_plan).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
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


def extract(archive: Path, routes: dict[str, str]) -> int:
    """Unpack regular files whose names start with a route's prefix into that route's folder."""
    count = 0
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            for prefix, target in routes.items():
                if member.name == prefix or (prefix.endswith("/") and member.name.startswith(prefix)):
                    rest = member.name[len(prefix) :] if prefix.endswith("/") else PurePosixPath(prefix).name
                    dest = _inside(Path(target), rest) if prefix.endswith("/") else Path(target)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    source = tar.extractfile(member)
                    if source is None:
                        raise StageFailed(f"cannot read {member.name} from the package")
                    with dest.open("wb") as out:
                        shutil.copyfileobj(source, out)
                    count += 1
                    break
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


def install(requirements: Path, site: Path, index_url: str | None) -> None:
    lines = [line for line in requirements.read_text().splitlines() if line.strip()]
    if not lines:
        return
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-cache-dir"]
    command += ["--target", str(site), "-r", str(requirements)]
    if index_url:
        command += ["--index-url", index_url]
    say(f"installing {len(lines)} requirements into {site}")
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise StageFailed(
            f"pip install exited with status {result.returncode} (does the image have pip, can it reach the index?)"
        )


def run(plan: dict[str, Any]) -> None:
    wanted = plan.get("python")
    have = f"{sys.version_info.major}.{sys.version_info.minor}"
    if wanted and wanted != have:
        say(f"note: the conda file asks for Python {wanted}; the image has {have}, which is used")
    package = plan.get("package")
    if package:
        count = extract(Path(package), dict(plan.get("extract", {})))
        say(f"unpacked {count} files from {package}")
    for item in plan.get("remote", []):
        fetch(item)
    requirements = plan.get("requirements")
    if requirements:
        install(Path(requirements), Path(plan["site"]), os.environ.get("ENDPOINTCTL_PIP_INDEX_URL") or None)
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
