"""Whether a backend may wait for a change it accepted, and where it reports progress meanwhile.

The façade follows deployments itself; endpoint, traffic, key and delete changes it hands to the backend
in one call. Backends whose service works asynchronously (Azure's long-running operations) read these
to honour `--no-wait` and to show progress; backends that apply changes at once can ignore them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

StatusCallback = Callable[[str], None]

_WAIT: ContextVar[bool] = ContextVar("endpointctl_wait", default=True)
_PROGRESS: ContextVar[StatusCallback | None] = ContextVar("endpointctl_progress", default=None)
_FOLLOWING: ContextVar[bool] = ContextVar("endpointctl_following", default=False)


@contextmanager
def waiting(wait: bool, progress: StatusCallback | None = None) -> Iterator[None]:
    wait_token = _WAIT.set(wait)
    progress_token = _PROGRESS.set(progress)
    try:
        yield
    finally:
        _PROGRESS.reset(progress_token)
        _WAIT.reset(wait_token)


@contextmanager
def following() -> Iterator[None]:
    """The caller follows one resource until it settles, so a read may wait for the backend's next poll.

    Any other read (a TUI refresh, `show`) must answer at once with what is known.
    """
    token = _FOLLOWING.set(True)
    try:
        yield
    finally:
        _FOLLOWING.reset(token)


def is_following() -> bool:
    return _FOLLOWING.get()


def should_wait() -> bool:
    return _WAIT.get()


def report(text: str) -> None:
    callback = _PROGRESS.get()
    if callback is not None:
        callback(text)
