"""Pod logs: read once (`tailLines`), or followed — one asyncio task per pod streams
`pods/{name}/log?follow=true`, and a task watching the deployment's pods adds new ones.

A rolling update's new pods join the stream as the watch reports them. Pods running when the follow starts
stream only what they write from then on (`tailLines=0`): `get-logs --follow` and the TUI have already shown
their tail. Pods that join later stream from their first line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Coroutine, Iterable
from typing import Any

from endpointctl.backends.kubernetes import naming, views
from endpointctl.backends.kubernetes.client import KubeClient
from endpointctl.backends.kubernetes.targets import Targets
from endpointctl.core.errors import EndpointctlError, InvalidInput, NotFound
from endpointctl.core.views import Container, LogLine

WATCH_TIMEOUT_S = 300
REWATCH_PAUSE_S = 1.0


async def _pods(
    targets: Targets, endpoint: str, deployment: str, instance: str | None
) -> tuple[KubeClient, list[dict[str, Any]]]:
    await views.get_deployment(targets, endpoint, deployment)  # NotFound for a deployment that is not there
    client, _ = await targets.locate(endpoint)
    selector = naming.inference(endpoint, deployment)
    pods = sorted(await client.list("Pod", selector), key=lambda p: p["metadata"]["name"])
    if instance is not None:
        pods = [p for p in pods if p["metadata"]["name"] == instance]
        if not pods:
            raise NotFound(f"deployment {endpoint}/{deployment} has no instance {instance}")
    return client, pods


async def read_logs(
    targets: Targets,
    endpoint: str,
    deployment: str,
    container: Container,
    lines: int | None,
    instance: str | None,
) -> list[LogLine]:
    client, pods = await _pods(targets, endpoint, deployment, instance)
    out: list[LogLine] = []
    for pod in pods:
        name = pod["metadata"]["name"]
        query = {"container": str(container)}
        if lines is not None:
            query["tailLines"] = str(lines)
        try:
            text = await client.request("GET", client.path("Pod", name, sub="log"), query=query)
        except (InvalidInput, NotFound) as exc:
            out.append(LogLine(f"({exc})", name, container))  # e.g. the container has not started yet
            continue
        out += [LogLine(line, name, container) for line in str(text).splitlines()]
    return out


async def follow_logs(
    targets: Targets, endpoint: str, deployment: str, container: Container, instance: str | None
) -> AsyncIterator[LogLine]:
    client, pods = await _pods(targets, endpoint, deployment, instance)
    follower = LogFollower(client, container)
    selector = naming.ours(endpoint, deployment)
    follower.start([p["metadata"]["name"] for p in pods], watch_selector=None if instance else selector)
    try:
        while True:
            yield await follower.queue.get()
    finally:
        follower.stop()


class LogFollower:
    def __init__(self, client: KubeClient, container: Container) -> None:
        self._client = client
        self._container = container
        self._followed: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.queue: asyncio.Queue[LogLine] = asyncio.Queue()

    def start(self, pods: Iterable[str], *, watch_selector: str | None) -> None:
        for pod in pods:
            self._follow(pod, new_lines_only=True)
        if watch_selector is not None:
            self._spawn(self._watch(watch_selector))

    def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._tasks.discard)

    def _follow(self, pod: str, *, new_lines_only: bool = False) -> None:
        if pod in self._followed:
            return
        self._followed.add(pod)
        self._spawn(self._stream(pod, new_lines_only))

    async def _stream(self, pod: str, new_lines_only: bool) -> None:
        query = {"container": str(self._container), "follow": "true"}
        if new_lines_only:
            query["tailLines"] = "0"
        path = self._client.path("Pod", pod, sub="log")
        try:
            async with contextlib.aclosing(self._client.stream_lines(path, query)) as lines:
                async for raw in lines:
                    self.queue.put_nowait(LogLine(raw.decode("utf-8", "replace"), pod, self._container))
        except EndpointctlError as exc:
            self.queue.put_nowait(LogLine(f"({exc})", pod, self._container))
            # A container that has not started yet cannot be followed; the watch retries it when it runs.
            self._followed.discard(pod)

    async def _watch(self, selector: str) -> None:
        query = {"watch": "true", "labelSelector": selector, "timeoutSeconds": str(WATCH_TIMEOUT_S)}
        while True:
            with contextlib.suppress(EndpointctlError, ValueError):
                async with contextlib.aclosing(
                    self._client.stream_lines(self._client.path("Pod"), query)
                ) as events:
                    async for raw in events:
                        self._on_pod_event(json.loads(raw))
            # The watch ended (its timeout, or an error): watch again after a pause.
            await asyncio.sleep(REWATCH_PAUSE_S)

    def _on_pod_event(self, event: dict[str, Any]) -> None:
        pod = event.get("object") or {}
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        running = any((s.get("state") or {}).get("running") for s in statuses)
        if event.get("type") in ("ADDED", "MODIFIED") and (
            running or self._container == Container.STORAGE_INITIALIZER
        ):
            self._follow(pod["metadata"]["name"])
