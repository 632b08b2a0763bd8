"""The gateway brings back its agent: supervision in both directions, so a killed agent is not a silent outage.

The agent supervises the gateway and the instances; the gateway (a process of its own) keeps serving when the
agent dies, but then nothing restarts a crashed instance and nothing resumes a rollout until some command
happens to start an agent. With `--revive-agent FILE` the gateway watches the agent's lock file and, when the
agent that held it is gone without having been stopped on request, starts the agent again the way the CLI does
(detached, in its own session, appending to the agent's log).

The FILE (JSON, written by the agent into its 0700 data directory) names what to run and where to look:
``{"argv": [...], "lock": PATH, "stopped_marker": PATH, "log": PATH, "spawned_at_variable": NAME}``. The gateway
imports nothing of the control plane: it runs that command line.

"Stopped on request" is the agent's own marker: `agent stop` writes the time into `stopped_marker` as it
exits. An agent that released the lock without writing a marker newer than when the gateway last saw it
running was killed (or crashed): it is revived. Attempts back off (5 s, doubling to 60 s) while no agent
manages to take the lock, so a broken installation costs a line in a log per minute, not a fork loop. The
spawned agent also checks the marker against its spawn time itself (SPAWNED_AT), so a stop racing a revival
still wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("endpointctl.gateway.revive")

CHECK_INTERVAL_S = 1.0
FIRST_BACKOFF_S = 5.0
MAX_BACKOFF_S = 60.0


class ReviveConfigError(ValueError):
    """The --revive-agent file is missing a field or is not JSON; the message names the file."""


@dataclass(frozen=True)
class AgentCommand:
    argv: tuple[str, ...]
    lock: Path
    stopped_marker: Path
    log: Path
    spawned_at_variable: str

    @classmethod
    def load(cls, path: Path) -> AgentCommand:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            argv = tuple(str(a) for a in data["argv"])
            if not argv:
                raise ValueError("argv is empty")
            return cls(
                argv,
                Path(data["lock"]),
                Path(data["stopped_marker"]),
                Path(data["log"]),
                str(data["spawned_at_variable"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ReviveConfigError(f"{path}: not a usable --revive-agent file: {exc!r}") from exc


def lock_held(lock: Path) -> bool:
    """True while a process holds the agent's lock (an exclusive flock; see the agent's lock module)."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _stopped_at(marker: Path) -> float | None:
    try:
        return float(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class AgentReviver:
    """Watches the agent's lock; starts the agent again when it died without being asked to stop."""

    def __init__(self, command: AgentCommand, *, clock: float | None = None) -> None:
        self.command = command
        # The agent started this gateway (or adopted it), so it ran when the gateway started.
        self.last_alive = time.time() if clock is None else clock
        self.revivals = 0
        self._next_attempt = 0.0
        self._backoff = FIRST_BACKOFF_S
        self._children: list[subprocess.Popen[bytes]] = []

    def check(self, now: float | None = None) -> bool:
        """One look at the lock; True when it started an agent."""
        now = time.time() if now is None else now
        # Agents this gateway started are its children: reap the ones that exited (no zombies).
        self._children = [child for child in self._children if child.poll() is None]
        if lock_held(self.command.lock):
            self.last_alive = now
            self._backoff = FIRST_BACKOFF_S
            self._next_attempt = 0.0
            return False
        stopped = _stopped_at(self.command.stopped_marker)
        # The marker is written while the agent still holds the lock, so it can be up to one check older
        # than the last time the lock was seen held; anything older than that is an earlier stop.
        if stopped is not None and stopped >= self.last_alive - 2 * CHECK_INTERVAL_S:
            return False
        if now < self._next_attempt:
            return False
        self._next_attempt = now + self._backoff
        self._backoff = min(self._backoff * 2, MAX_BACKOFF_S)
        self._spawn(now)
        return True

    def _spawn(self, now: float) -> None:
        self.revivals += 1
        log.warning(
            "the agent is gone and was not stopped on request: starting it again (%s)", self.command.argv[0]
        )
        self.command.log.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.command.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            child = subprocess.Popen(
                list(self.command.argv),
                env={**os.environ, self.command.spawned_at_variable: repr(now)},
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=fd,
                start_new_session=True,  # the agent must outlive a gateway restart
                close_fds=True,
            )
            self._children.append(child)
        except OSError as exc:
            log.error("cannot start the agent: %s", exc)
        finally:
            os.close(fd)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await asyncio.to_thread(self.check)
            except Exception:  # the reviver must never take the gateway down
                log.exception("agent revival check failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), CHECK_INTERVAL_S)
