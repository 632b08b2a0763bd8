"""Plain-text renderings shared by the panes. Every state has a glyph *and* a word so NO_COLOR stays readable."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from endpointctl.core.views import ProvisioningState

# Keyed by the states' values: both enums are StrEnums, so a member finds its entry, and this module (which the
# first frame needs) does not import the views and the spec models behind them. test_units checks every member.
STATE_GLYPH: dict[str, str] = {
    "Succeeded": "●",
    "Creating": "◐",
    "Updating": "◐",
    "Scaling": "◐",
    "Deleting": "◌",
    "Failed": "✖",
    "Canceled": "○",
}

STATE_CLASS: dict[str, str] = {
    "Succeeded": "ok",
    "Failed": "bad",
    "Canceled": "bad",
}

INSTANCE_GLYPH: dict[str, str] = {
    "Ready": "●",
    "Pending": "○",
    "Starting": "◐",
    "Unhealthy": "▲",
    "Restarting": "↻",
    "Terminating": "◌",
    "Failed": "✖",
}


def state_label(state: ProvisioningState) -> str:
    return f"{STATE_GLYPH.get(state, '?')} {state}"


def state_style(state: ProvisioningState) -> str:
    if state == "Succeeded":
        return "green"
    if state in ("Failed", "Canceled"):
        return "red"
    return "yellow"


def traffic_summary(traffic: Mapping[str, int], mirror: Mapping[str, int]) -> str:
    live = [f"{name} {pct}%" for name, pct in traffic.items() if pct > 0]
    text = ", ".join(live) if live else "no traffic"
    for name, pct in mirror.items():
        if pct > 0:
            text += f", mirror {name} {pct}%"
    return text


def bar(percent: int, width: int = 20) -> str:
    filled = round(width * max(0, min(100, percent)) / 100)
    return "█" * filled + "░" * (width - filled)


def age(since: float | None, now: float | None = None) -> str:
    if since is None:
        return "-"
    seconds = max(0, int((now if now is not None else time.time()) - since))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def clock_time(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts))


def mask(secret: str | None) -> str:
    if not secret:
        return "-"
    return secret[:4] + "•" * 12
