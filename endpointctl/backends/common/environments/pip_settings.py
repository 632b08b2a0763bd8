"""pip's effective index settings on this machine, for builders that install packages somewhere else.

A venv builder on the host and an image builder inside a container both have to resolve packages from
the same places the operator's pip does (a mirror, local wheel folders, a constraints file, a corporate
CA bundle), so the reading of pip's configuration lives here, free of any backend.
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Mapping
from pathlib import Path

# The settings that decide where packages come from and how they are trusted; nothing else is carried over.
INDEX_KEYS: tuple[str, ...] = (
    "index-url",
    "extra-index-url",
    "find-links",
    "constraint",
    "no-index",
    "cert",
    "trusted-host",
    "timeout",
    "default-timeout",
)


def pip_config_files(env: Mapping[str, str]) -> list[Path]:
    """pip's configuration files in the order pip reads them (later ones win)."""
    if "PIP_CONFIG_FILE" in env:
        return [] if env["PIP_CONFIG_FILE"] == os.devnull else [Path(env["PIP_CONFIG_FILE"])]
    home = Path(env.get("HOME") or Path.home())
    config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    system_dirs = [Path(d) for d in env.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":") if d]
    return [
        *(d / "pip" / "pip.conf" for d in system_dirs),
        Path("/etc/pip.conf"),
        home / ".pip" / "pip.conf",
        config_home / "pip" / "pip.conf",
        Path(sys.prefix) / "pip.conf",
    ]


def pip_settings(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Config files in pip's order, `[install]` over `[global]`, then `PIP_*` variables over all of them."""
    env = os.environ if env is None else env
    settings: dict[str, str] = {}
    for path in pip_config_files(env):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (OSError, configparser.Error):
            continue
        for section in ("global", "install"):
            if not parser.has_section(section):
                continue
            for key in INDEX_KEYS:
                value = parser.get(section, key, fallback=None)
                if value is None:
                    value = parser.get(section, key.replace("-", "_"), fallback=None)
                if value is not None:
                    settings[key] = value
    for key in INDEX_KEYS:
        value = env.get("PIP_" + key.upper().replace("-", "_"))
        if value is not None:
            settings[key] = value
    if "cert" not in settings:
        # requests (inside pip) honours these too; a proxy's CA is often configured only this way.
        for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
            if env.get(name):
                settings["cert"] = env[name]
                break
    return settings
