"""A progressive rollout's state kept in the endpoint's own ARM tags, so any machine can see and resume it.

Azure runs no endpointctl process, so whoever reads the rollout (`rollout start` following it, `rollout status`,
the TUI) drives it: each read judges the current step on Azure Monitor's numbers and, when the state machine
moves, one PUT of the endpoint carries the new split and the new state together — they cannot disagree.

ARM limits a tag value to 256 characters and a resource to 50 tags, so the state (the machine's JSON,
compressed) is cut into numbered tags `endpointctl.rollout.0`, `.1`, …; `endpointctl.rollout` holds a line a
person can read in the portal. The user's own tags are kept; these are never shown as part of the spec.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from endpointctl.core.errors import OperationFailed
from endpointctl.core.progressive import machine
from endpointctl.core.progressive.machine import RolloutState

SUMMARY = "endpointctl.rollout"
PREFIX = SUMMARY + "."
CHUNK = 250
MAX_CHUNKS = 12


def is_rollout_tag(name: str) -> bool:
    return name == SUMMARY or name.startswith(PREFIX)


def user_tags(tags: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in tags.items() if not is_rollout_tag(k)}


def encode(state: RolloutState, now: float) -> dict[str, str]:
    """The tags that hold `state` (marks left out: Monitor is asked for each step's window instead)."""
    data = machine.to_json(replace(state, marks={}))
    packed = base64.b64encode(zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 9)).decode()
    chunks = [packed[i : i + CHUNK] for i in range(0, len(packed), CHUNK)]
    if len(chunks) > MAX_CHUNKS:
        raise OperationFailed(
            f"the rollout's state ({len(packed)} characters) does not fit in {MAX_CHUNKS} endpoint tags"
        )
    tags = {f"{PREFIX}{i}": chunk for i, chunk in enumerate(chunks)}
    tags[SUMMARY] = state.describe(now)[:256]
    return tags


def decode(tags: Mapping[str, Any]) -> RolloutState | None:
    """The state the tags hold, or None when the endpoint never had a rollout."""
    parts: dict[int, str] = {}
    for name, value in tags.items():
        index = name[len(PREFIX) :] if name.startswith(PREFIX) else ""
        if index.isdigit():
            parts[int(index)] = str(value)
    if not parts:
        return None
    if sorted(parts) != list(range(len(parts))):
        raise OperationFailed("the endpoint's rollout tags are incomplete (a tag was removed by hand?)")
    try:
        data = json.loads(zlib.decompress(base64.b64decode("".join(parts[i] for i in sorted(parts)))))
        return machine.from_json(data)
    except (binascii.Error, zlib.error, ValueError, KeyError, TypeError) as exc:
        raise OperationFailed(f"the endpoint's rollout tags cannot be read: {exc}") from exc
