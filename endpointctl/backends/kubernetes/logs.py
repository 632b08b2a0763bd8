"""Following pod logs: one thread per pod streams `pods/{name}/log?follow=true`; a watch adds new pods.

The streams block in the client, so each runs in a daemon thread and hands lines to the event loop; a rolling
update's new pods join the stream as the watch reports them. Pods running when the follow starts stream only
what they write from then on (`tailLines=0`): `get-logs --follow` and the TUI have already shown their tail.
Pods that join later stream from their first line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterable

from endpointctl.backends.kubernetes.client import KubeClient
from endpointctl.core.errors import EndpointctlError
from endpointctl.core.views import Container, LogLine

WATCH_TIMEOUT_S = 300


class LogFollower:
    def __init__(self, client: KubeClient, container: Container, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._container = container
        self._loop = loop
        self._followed: set[str] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.queue: asyncio.Queue[LogLine] = asyncio.Queue()

    def start(self, pods: Iterable[str], *, watch_selector: str | None) -> None:
        for pod in pods:
            self._follow(pod, new_lines_only=True)
        if watch_selector is not None:
            threading.Thread(target=self._watch, args=(watch_selector,), daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()

    def _emit(self, line: LogLine) -> None:
        if not self._stopped.is_set():
            self._loop.call_soon_threadsafe(self.queue.put_nowait, line)

    def _follow(self, pod: str, *, new_lines_only: bool = False) -> None:
        with self._lock:
            if pod in self._followed:
                return
            self._followed.add(pod)
        threading.Thread(target=self._stream, args=(pod, new_lines_only), daemon=True).start()

    def _stream(self, pod: str, new_lines_only: bool) -> None:
        query = {"container": str(self._container), "follow": "true"}
        if new_lines_only:
            query["tailLines"] = "0"
        try:
            for raw in self._client.stream_lines(self._client.path("Pod", pod, sub="log"), query):
                if self._stopped.is_set():
                    return
                self._emit(LogLine(raw.decode("utf-8", "replace"), pod, self._container))
        except EndpointctlError as exc:
            self._emit(LogLine(f"({exc})", pod, self._container))
            # A container that has not started yet cannot be followed; the watch retries it when it runs.
            with self._lock:
                self._followed.discard(pod)

    def _watch(self, selector: str) -> None:
        query = {"watch": "true", "labelSelector": selector, "timeoutSeconds": str(WATCH_TIMEOUT_S)}
        while not self._stopped.is_set():
            with contextlib.suppress(EndpointctlError, ValueError):
                for raw in self._client.stream_lines(self._client.path("Pod"), query):
                    if self._stopped.is_set():
                        return
                    event = json.loads(raw)
                    pod = event.get("object") or {}
                    statuses = (pod.get("status") or {}).get("containerStatuses") or []
                    running = any((s.get("state") or {}).get("running") for s in statuses)
                    if event.get("type") in ("ADDED", "MODIFIED") and (
                        running or self._container == Container.STORAGE_INITIALIZER
                    ):
                        self._follow(pod["metadata"]["name"])
            self._stopped.wait(1.0)
