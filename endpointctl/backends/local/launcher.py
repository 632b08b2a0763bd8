"""Starting, finding and stopping the agent of a data directory."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from typing import Any

from endpointctl.backends.local import control, procs
from endpointctl.backends.local.layout import SPAWNED_AT_VARIABLE, Layout
from endpointctl.backends.local.lock import lock_holder
from endpointctl.core.errors import BackendUnavailable, OperationFailed

START_TIMEOUT_S = 20.0


async def ensure_agent(layout: Layout) -> dict[str, Any]:
    """Ping the agent, starting it (detached) if none runs; concurrent callers start at most one."""
    try:
        return dict(await control.call(layout.socket, "ping", timeout_s=5))
    except control.AgentUnreachable:
        pass
    spawned_at: float | None = None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        # Spawn when no live process holds the lock; again if the last spawn has had a second to answer.
        # (A killed agent's lock can outlive it for a moment; a spawned agent that finds the lock held
        # exits at once, and one that gets it only after a stop was requested exits too, so a spare spawn
        # costs nothing.)
        if (spawned_at is None or time.monotonic() - spawned_at > 1.0) and not _held_by_live_agent(layout):
            _spawn(layout)
            spawned_at = time.monotonic()
        try:
            return dict(await control.call(layout.socket, "ping", timeout_s=5))
        except control.AgentUnreachable:
            await asyncio.sleep(0.05)
    raise BackendUnavailable(
        f"the {layout.backend}-backend agent did not start within {START_TIMEOUT_S:.0f} s; see {layout.agent_log}"
    )


def _held_by_live_agent(layout: Layout) -> bool:
    holder = lock_holder(layout)
    if holder is None:
        return False
    # -1: held, but the pid was not written yet (an agent is starting right now).
    return holder == -1 or procs.start_time(holder) is not None


def _spawn(layout: Layout) -> None:
    layout.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    layout.agent_log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(layout.agent_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        subprocess.Popen(
            layout.agent_argv(),
            env={**os.environ, SPAWNED_AT_VARIABLE: repr(time.time())},
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            start_new_session=True,  # detached: it outlives the CLI or TUI that started it
            close_fds=True,
        )
    finally:
        os.close(fd)


async def stop_agent(layout: Layout, *, everything: bool = True, timeout_s: float = 60) -> bool:
    """Ask the agent to stop; False if none was running.

    `everything`: its instances and the gateway stop too. Without it they keep serving (the next agent adopts
    them). With it and no agent running, something a previous agent left serving is stopped all the same:
    an agent is started to adopt it, then stopped with it."""
    try:
        await control.call(layout.socket, "stop", {"everything": everything}, timeout_s=5)
    except control.AgentUnreachable:
        if not (everything and _left_serving(layout)):
            return False
        await ensure_agent(layout)
        await control.call(layout.socket, "stop", {"everything": True}, timeout_s=5)
    deadline = time.monotonic() + timeout_s
    # The lock belongs to another process: polling it is the only way to see it released.
    while (holder := lock_holder(layout)) is not None:
        if time.monotonic() > deadline:
            raise OperationFailed(
                f"the {layout.backend} agent (pid {holder}) is still stopping its instances after "
                f"{timeout_s:.0f} s; see {layout.agent_log}"
            )
        await asyncio.sleep(0.05)
    return True


def _left_serving(layout: Layout) -> bool:
    """Instances or a gateway recorded by an agent that is gone (stopped without --all, or killed)."""
    recorded = any(layout.instances.glob("*.json")) if layout.instances.is_dir() else False
    return recorded or (layout.root / "gateway" / "gateway.json").is_file()
