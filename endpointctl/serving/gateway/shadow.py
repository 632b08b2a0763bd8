"""Shadow diffs: a mirrored request's answer compared with the live one, so a candidate is judged on what it
would have answered before it answers anyone.

Equal means the same status and bodies equal after JSON canonicalisation, numbers compared with a relative
tolerance (a model retrained on the same data rarely reproduces the last bit); bodies that are not JSON are
compared as bytes. A mirror that got no answer of its own (the gateway's 408, 502, 503) is "failed", not
"differs"; one the candidate's own concurrency limit turned away (429) is "throttled": the copies are extra load
on it, and its limits protect it as they should, so that is counted but judged neither way. The last few differing examples are kept in memory only — never on disk, never in a log — each body
cut to 1 KiB, for `rollout status --show-diffs` and the TUI.
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from endpointctl.serving.gateway.config import DEFAULT_SHADOW_TOLERANCE

DEFAULT_TOLERANCE = DEFAULT_SHADOW_TOLERANCE
EXAMPLES_KEPT = 10
EXAMPLE_BYTES = 1024
# Answers the gateway itself gives when it could not get the model's: the mirror failed, it did not differ.
NO_ANSWER = frozenset({408, 502, 503})
THROTTLED = 429
# Bodies bigger than this are compared as bytes: parsing megabytes of JSON twice per mirrored request would
# cost the live requests CPU on the same loop.
MAX_JSON_COMPARE_BYTES = 256 * 1024

Result = Literal["equal", "differs", "failed", "throttled"]


def compare(
    live_status: int, live_body: bytes, mirror_status: int, mirror_body: bytes, tolerance: float
) -> Result:
    if mirror_status == THROTTLED and live_status != THROTTLED:
        return "throttled"
    if mirror_status in NO_ANSWER and live_status not in NO_ANSWER:
        return "failed"
    if live_status != mirror_status:
        return "differs"
    if live_body == mirror_body:
        return "equal"
    if max(len(live_body), len(mirror_body)) > MAX_JSON_COMPARE_BYTES:
        return "differs"
    try:
        left, right = json.loads(live_body), json.loads(mirror_body)
    except ValueError:
        return "differs"
    return "equal" if _same(left, right, tolerance) else "differs"


def _same(a: Any, b: Any, tolerance: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=tolerance, abs_tol=0.0) or a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], tolerance) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y, tolerance) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@dataclass(frozen=True)
class DiffExample:
    request_id: str
    at: float
    live_status: int
    mirror_status: int
    live_body: str  # at most EXAMPLE_BYTES, decoded for display
    mirror_body: str

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "at": self.at,
            "live_status": self.live_status,
            "mirror_status": self.mirror_status,
            "live_body": self.live_body,
            "mirror_body": self.mirror_body,
        }


class ShadowStats:
    __slots__ = ("counts", "examples")

    def __init__(self) -> None:
        self.counts: dict[Result, int] = {"equal": 0, "differs": 0, "failed": 0, "throttled": 0}
        self.examples: deque[DiffExample] = deque(maxlen=EXAMPLES_KEPT)

    def observe(
        self,
        request_id: bytes,
        live: tuple[int, bytes],
        mirror: tuple[int, bytes],
        tolerance: float,
    ) -> Result:
        result = compare(live[0], live[1], mirror[0], mirror[1], tolerance)
        self.counts[result] += 1
        if result == "differs":
            self.examples.append(
                DiffExample(
                    request_id.decode("latin-1"),
                    time.time(),
                    live[0],
                    mirror[0],
                    _cut(live[1]),
                    _cut(mirror[1]),
                )
            )
        return result

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {str(k): v for k, v in self.counts.items()}
        out["examples"] = [e.to_json() for e in self.examples]
        return out


def _cut(body: bytes) -> str:
    text = body[:EXAMPLE_BYTES].decode("utf-8", errors="replace")
    return text + ("…" if len(body) > EXAMPLE_BYTES else "")
