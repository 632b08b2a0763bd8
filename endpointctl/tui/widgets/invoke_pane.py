"""Send sample requests: routed by traffic or pinned to a deployment, once or N times, with a re-sendable history."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.console import Group, RenderableType
from rich.json import JSON
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import OptionList, Static, TextArea
from textual.widgets.option_list import Option

from endpointctl.core.capabilities import Capability
from endpointctl.core.capacity import concurrent_capacity
from endpointctl.tui.screens.prompt import PromptScreen
from endpointctl.tui.target import Target
from endpointctl.tui.widgets.pane import Pane
from endpointctl.tui.widgets.pane_text_area import PaneTextArea

if TYPE_CHECKING:
    from endpointctl.core.views import DeploymentView, InvokeResult
    from endpointctl.tui.model.snapshot import Snapshot

MAX_HISTORY = 50
SEND_N_CONCURRENCY = 8
SAMPLE_FILE = "sample-request.json"


@dataclass(frozen=True)
class Sent:
    body: str
    deployment: str | None
    status: int
    served_by: str | None
    latency_ms: float

    def label(self) -> str:
        where = self.deployment or "routed"
        one_line = " ".join(self.body.split())
        return f"{self.status} {self.served_by or '-'} {self.latency_ms:.0f}ms [{where}] {one_line[:24]}"


def served_by(result: InvokeResult) -> str | None:
    return result.deployment or result.headers.get("azureml-model-deployment")


def sample_request(deployments: list[DeploymentView]) -> str | None:
    """The sample request shipped beside a deployment's scoring code, as the Azure samples lay it out."""
    for dep in deployments:
        code = getattr(getattr(dep.spec, "code_configuration", None), "code", None)
        if code is None:
            continue
        root = Path(str(code))
        for candidate in (root / SAMPLE_FILE, root.parent / SAMPLE_FILE):
            try:
                return candidate.read_text(encoding="utf-8")
            except OSError:
                continue
    return None


def render_result(result: InvokeResult) -> RenderableType:
    header = Text.assemble(
        (f" {result.status} ", "bold reverse green" if result.status < 400 else "bold reverse red"),
        f"  {result.latency_ms:.1f} ms  ",
        ("served by: ", "dim"),
        (served_by(result) or "-", "bold"),
    )
    headers = Text("\n".join(f"{k}: {v}" for k, v in sorted(result.headers.items())), style="dim")
    try:
        body: RenderableType = JSON(result.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        body = Text(result.body.decode("utf-8", errors="replace"))
    # The body right under the status: at 80×24 the headers would push it out of view; they follow, dimmed.
    return Group(header, body, Text("headers:", style="dim bold"), headers)


class InvokePane(Pane):
    REQUIRES = Capability.INVOKE
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", priority=True),
        Binding("ctrl+n", "send_n", "Send N", priority=True),
        Binding("ctrl+t", "cycle_target", "Target", priority=True),
        Binding("ctrl+o", "open_file", "Open file", priority=True),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.deployments: list[str] = []
        self.pinned: str | None = None
        self.history: list[Sent] = []
        self.last_result: InvokeResult | None = None
        self._waiting = False  # the target is not in a snapshot yet: prefill when it is

    def compose(self) -> ComposeResult:
        yield Static("", id="blocked")
        yield Static("", id="invoke-target")
        # JSON is YAML, and the tree-sitter-json grammar that textual[syntax] pulls in crashes the
        # interpreter (segfault) with tree-sitter 0.26 — so the request is highlighted as YAML.
        yield PaneTextArea("", language="yaml", theme="css", id="request", soft_wrap=True)
        with VerticalScroll(id="response-box"):
            yield Static("", id="response")
        yield OptionList(id="history")

    def load(self, blocked: str | None) -> None:
        if blocked is None:
            self._prefill()
        self._show_target()

    def _prefill(self) -> None:
        """The request editor for this target, from the latest snapshot (no fetch of its own)."""
        target = self.target
        entry = self.entry()
        self._waiting = entry is None
        if target is None or target.endpoint is None or entry is None:
            return
        deployments = list(entry.deployments)
        self.deployments = [d.name for d in deployments]
        self.pinned = target.deployment if target.deployment in self.deployments else None
        body = self.ctx.last_request.get(target.endpoint) or sample_request(deployments) or "{}"
        self.query_one("#request", TextArea).load_text(body)
        self._show_target()

    def show_snapshot(self, snapshot: Snapshot) -> None:
        if self.active and self._waiting and self.blocked_reason() is None:
            self._prefill()

    def _show_target(self) -> None:
        endpoint = self.target.endpoint if self.target else None
        where = f"pinned to {self.pinned}" if self.pinned else "routed by traffic"
        self.query_one("#invoke-target", Static).update(
            Text.assemble(
                (f" {endpoint or '-'} ", "bold reverse"),
                f"  target: {where}  ",
                ("ctrl+s send · ctrl+n send N · ctrl+t target", "dim"),
            )
        )

    def _body(self) -> bytes | None:
        text = self.query_one("#request", TextArea).text
        try:
            json.loads(text)
        except ValueError as exc:
            self.notify(f"the request is not valid JSON: {exc}", severity="error")
            return None
        return text.encode()

    # --- actions ------------------------------------------------------------------------------
    def action_cycle_target(self) -> None:
        choices: list[str | None] = [None, *self.deployments]
        position = choices.index(self.pinned) if self.pinned in choices else 0
        self.pinned = choices[(position + 1) % len(choices)]
        self._show_target()

    def action_send(self) -> None:
        body = self._body()
        if body is not None:
            self._send(body, self.pinned)

    def action_send_n(self) -> None:
        body = self._body()
        if body is None:
            return

        def done(value: str | None) -> None:
            if value is None:
                return
            try:
                count = int(value)
            except ValueError:
                self.notify(f"{value!r} is not a number", severity="error")
                return
            if not 1 <= count <= 10_000:
                self.notify("send between 1 and 10,000 requests", severity="error")
                return
            self._send_many(body, self.pinned, count)

        self.app.push_screen(PromptScreen("Send how many requests?", "100"), done)

    def action_open_file(self) -> None:
        def done(value: str | None) -> None:
            if not value:
                return
            try:
                text = Path(value).expanduser().read_text(encoding="utf-8")
            except OSError as exc:
                self.notify(f"cannot open {value}: {exc.strerror or exc}", severity="error")
                return
            self.query_one("#request", TextArea).load_text(text)

        self.app.push_screen(
            PromptScreen("Load a request body from a file", placeholder="sample-request.json"), done
        )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        sent = self.history[len(self.history) - 1 - event.option_index]
        self.query_one("#request", TextArea).load_text(sent.body)
        self._send(sent.body.encode(), sent.deployment)

    @work(exit_on_error=False, exclusive=True, group="invoke")
    async def _send(self, body: bytes, deployment: str | None) -> None:
        target = self.target
        if target is None or target.endpoint is None:
            return
        self.query_one("#response", Static).update(Text("sending…", style="dim"))
        try:
            result = await self.service.invoke(
                target.endpoint, body, deployment=deployment, backend=target.backend
            )
        except Exception as exc:
            self.query_one("#response", Static).update(Text(f"✖ {exc}", style="red"))
            self.notify(f"invoke: {exc}", severity="error")
            return
        self.ctx.last_request[target.endpoint] = body.decode()
        self.last_result = result
        self.query_one("#response", Static).update(render_result(result))
        self._remember(Sent(body.decode(), deployment, result.status, served_by(result), result.latency_ms))

    @work(exit_on_error=False, exclusive=True, group="invoke")
    async def _send_many(self, body: bytes, deployment: str | None, count: int) -> None:
        target = self.target
        if target is None or target.endpoint is None:
            return
        endpoint, backend = target.endpoint, target.backend
        served: Counter[str] = Counter()
        statuses: Counter[int] = Counter()
        latencies: list[float] = []
        failures: Counter[str] = Counter()
        response = self.query_one("#response", Static)
        response.update(Text("sending…", style="dim"))
        parallel = await self._parallelism(endpoint, backend, deployment)
        gate = asyncio.Semaphore(parallel)

        async def one() -> None:
            async with gate:
                try:
                    result = await self.service.invoke(endpoint, body, deployment=deployment, backend=backend)
                except Exception as exc:
                    failures[type(exc).__name__] += 1
                    return
                served[served_by(result) or "-"] += 1
                statuses[result.status] += 1
                latencies.append(result.latency_ms)

        tasks = [asyncio.create_task(one()) for _ in range(count)]
        for done_count, task in enumerate(asyncio.as_completed(tasks), 1):
            await task
            if done_count % 10 == 0 or done_count == count:
                response.update(
                    self._summary(done_count, count, parallel, served, statuses, latencies, failures)
                )
        self.ctx.last_request[endpoint] = body.decode()

    async def _parallelism(self, endpoint: str, backend: str, deployment: str | None) -> int:
        """As many at once as the serving instances take: more would only measure the endpoint's 429s
        (``max_concurrent_requests_per_instance`` is 1 unless the spec says otherwise), not its split."""
        entry = self.snapshot.find(Target(backend, endpoint))
        if entry is None:
            return 1  # the sends themselves will say what is wrong
        capacity = concurrent_capacity(list(entry.deployments), entry.endpoint.traffic, pinned=deployment)
        return max(1, min(SEND_N_CONCURRENCY, capacity))

    @staticmethod
    def _summary(
        done: int,
        count: int,
        parallel: int,
        served: Counter[str],
        statuses: Counter[int],
        latencies: list[float],
        failures: Counter[str],
    ) -> Text:
        text = Text(f"sent {done}/{count}", style="bold")
        text.append(f"  ({parallel} at a time)\n", style="dim")
        for name, n in served.most_common():
            text.append(f"served by: {name:<12} {n:>5}  {100 * n / max(1, done):5.1f}%\n")
        text.append("status: " + ", ".join(f"{s}×{n}" for s, n in sorted(statuses.items())) + "\n")
        if latencies:
            ordered = sorted(latencies)
            text.append(
                f"p50 {ordered[len(ordered) // 2]:.1f} ms  p99 {ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]:.1f} ms\n"
            )
        if failures:
            text.append("errors: " + ", ".join(f"{k}×{n}" for k, n in failures.items()), style="red")
        return text

    def _remember(self, sent: Sent) -> None:
        self.history = [*self.history, sent][-MAX_HISTORY:]
        history = self.query_one("#history", OptionList)
        history.clear_options()
        history.add_options([Option(s.label()) for s in reversed(self.history)])
