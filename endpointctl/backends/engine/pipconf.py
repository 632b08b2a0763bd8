"""The host's pip settings, made usable inside a build container without baking them into the image.

Local index folders, wheel folders, constraint files and the CA bundle are bind-mounted read-only under
`HOST_PREFIX` + their host path, and a pip.conf naming those container paths is written into the build
context (itself a bind mount). Prefixing the whole path rather than renaming keeps relative links inside
a local PEP 503 index (`simple/x/index.html` → `../../files/…`) working. Nothing of this lands in a layer:
bind mounts are not part of a committed container.
"""

from __future__ import annotations

import configparser
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from endpointctl.backends.common.environments.pip_settings import pip_settings

HOST_PREFIX = "/run/endpointctl-build/host"
_URL_LIST_KEYS = ("index-url", "extra-index-url")
_PATH_OR_URL_LIST_KEYS = ("find-links",)
_PATH_KEYS = ("constraint", "cert")
_PLAIN_KEYS = ("no-index", "trusted-host", "timeout", "default-timeout")


@dataclass
class ContainerPipConfig:
    """pip.conf text for the container and the host paths it needs mounted (host path → container path)."""

    text: str
    mounts: dict[str, str] = field(default_factory=dict)
    cert: str | None = None


def container_pip_config(env: Mapping[str, str] | None = None) -> ContainerPipConfig:
    settings = pip_settings(env)
    mounts: dict[str, str] = {}

    def local(host_path: str, *, mount_parent: bool = False) -> str | None:
        path = Path(host_path)
        if not path.is_absolute() or not path.exists():
            return None
        # An index folder is mounted with its parent so `../../files` links still resolve.
        mounted = path.parent if mount_parent else path
        mounts[str(mounted)] = HOST_PREFIX + str(mounted)
        return HOST_PREFIX + str(path)

    def url(value: str, *, index: bool) -> str | None:
        parsed = urlparse(value)
        if parsed.scheme == "file":
            inside = local(unquote(parsed.path), mount_parent=index)
            return None if inside is None else "file://" + inside
        if parsed.scheme in {"http", "https"}:
            return value
        if not parsed.scheme:
            return local(value, mount_parent=index)
        return None

    values: dict[str, str] = {}
    for key in _URL_LIST_KEYS:
        kept = [u for u in (url(v, index=True) for v in settings.get(key, "").split()) if u]
        if kept:
            values[key] = "\n".join(kept) if key == "extra-index-url" else kept[0]
    for key in _PATH_OR_URL_LIST_KEYS:
        kept = [u for u in (url(v, index=False) for v in settings.get(key, "").split()) if u]
        if kept:
            values[key] = "\n".join(kept)
    for key in _PATH_KEYS:
        inside = local(settings[key]) if key in settings else None
        if inside is not None:
            values[key] = inside
    for key in _PLAIN_KEYS:
        if key in settings:
            values[key] = settings[key]

    parser = configparser.RawConfigParser()
    parser.add_section("global")
    for key, value in values.items():
        parser.set("global", key, value)
    out = io.StringIO()
    parser.write(out)
    return ContainerPipConfig(out.getvalue(), mounts, values.get("cert"))
