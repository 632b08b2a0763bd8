"""ARM long-running operations: `Azure-AsyncOperation` (status documents) and `Location` (202 until done).

An `Operation` is remembered by the backend after the first response, so `--no-wait` can return at once
and later reads (`get_deployment`, which the façade polls) fold the operation's outcome into the view.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from endpointctl.backends.azure.arm import ArmClient, ArmResponse, error_of, retry_after_s

_ANY_STATUS = frozenset(range(400, 600))


class OpState(enum.StrEnum):
    RUNNING = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELED = "Canceled"

    @property
    def terminal(self) -> bool:
        return self is not OpState.RUNNING


@dataclass(frozen=True)
class OpResult:
    state: OpState
    error: str = ""


@dataclass
class Operation:
    what: str
    resource_url: str
    status_url: str
    style: str  # "async" (Azure-AsyncOperation) or "location"
    due: float  # time.monotonic() when ARM said to poll next
    last: OpResult = OpResult(OpState.RUNNING)

    @classmethod
    def from_response(cls, response: ArmResponse, *, what: str, interval_s: float) -> Operation | None:
        """None when the first response already finished the work (200 without a polling header)."""
        delay = retry_after_s(response.headers, interval_s)
        async_url = response.headers.get("azure-asyncoperation")
        if async_url:
            return cls(what, response.url, async_url, "async", time.monotonic() + delay)
        location = response.headers.get("location")
        # 202 (PATCH, DELETE, POST actions), or 201 from a PUT whose provider gives no status document.
        if location and response.status in (201, 202):
            return cls(what, response.url, location, "location", time.monotonic() + delay)
        return None


async def poll(client: ArmClient, op: Operation) -> OpResult:
    """Poll once (now); remembers when ARM wants the next poll."""
    response = await client.request("GET", op.status_url, what=op.what, allow=_ANY_STATUS)
    op.due = time.monotonic() + retry_after_s(response.headers, client.tuning.lro_interval_s)
    if op.style == "location":
        if response.status == 202:
            op.last = OpResult(OpState.RUNNING)
        elif response.status < 400:
            op.last = OpResult(OpState.SUCCEEDED)
        else:
            code, message = error_of(response.body)
            op.last = OpResult(OpState.FAILED, f"{code}: {message}" if message else code)
        return op.last
    if response.status >= 400:
        raise client.error(response.status, response.body, "GET", op.status_url, op.what)
    body = response.body if isinstance(response.body, dict) else {}
    status = str(body.get("status", "InProgress"))
    state = {s.value.lower(): s for s in OpState}.get(status.lower(), OpState.RUNNING)
    error = ""
    if state in (OpState.FAILED, OpState.CANCELED):
        code, message = error_of(body)
        error = f"{code}: {message}" if message else (code if code != "Error" else "")
    op.last = OpResult(state, error)
    return op.last


async def poll_when_due(client: ArmClient, op: Operation) -> OpResult:
    """Wait until ARM's Retry-After has passed (bounded by the tuning's max sleep), then poll."""
    wait = min(op.due - time.monotonic(), client.tuning.max_sleep_s)
    if wait > 0:
        await client.tuning.sleep(wait)
    return await poll(client, op)


async def poll_if_due(client: ArmClient, op: Operation) -> OpResult:
    """Poll when ARM's Retry-After has passed, else the last answer: for reads that must never wait (a
    TUI refresh, `show`); whoever calls again later (the façade's wait loop) gets the next poll."""
    if op.due > time.monotonic():
        return op.last
    return await poll(client, op)
