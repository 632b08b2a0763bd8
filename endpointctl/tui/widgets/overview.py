"""What `show` returns, made readable: state, URI, keys, traffic bars, instances, events and live metrics."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Label, Sparkline, Static
from textual.widgets.data_table import RowKey

from endpointctl.core.capabilities import Capability
from endpointctl.tui.format import INSTANCE_GLYPH, age, bar, clock_time, mask, state_label
from endpointctl.tui.target import Target
from endpointctl.tui.widgets.pane import Pane

if TYPE_CHECKING:
    from endpointctl.core.progressive.machine import RolloutState
    from endpointctl.core.views import Credentials, DeploymentView, EndpointView, EventView, MetricsSnapshot
    from endpointctl.tui.model.detail import EndpointDetail
    from endpointctl.tui.model.metrics_history import MetricsHistory
    from endpointctl.tui.model.snapshot import Snapshot

BAD_EVENT_WORDS = ("fail", "rollback", "error", "unhealthy")


def event_line(event: EventView) -> Text:
    bad = any(word in event.kind.lower() for word in BAD_EVENT_WORDS)
    who = f"{event.deployment}: " if event.deployment else ""
    return Text.assemble(
        (clock_time(event.ts) + " ", "dim"),
        (f"{event.kind:<18} ", "bold red" if bad else "bold"),
        who + event.message,
    )


class InstanceTable(DataTable[str]):
    """The instances table, drawn whole after its columns are re-measured.

    Textual 8.2.8 (pinned) re-measures columns when idle but keeps the rows it already rendered at the old widths
    (its row and cell caches are keyed on `_update_count`, which that does not bump): the header and the rows drawn
    before stayed narrow, the others wide, until the next change. Bumping it redraws every row at the new widths.
    """

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        super()._update_dimensions(new_rows)
        self._update_count += 1
        self.refresh()


class MetricsRow(Horizontal):
    """One deployment's sparklines: requests/s, p50, p99 and error rate."""

    DEFAULT_CSS = """
    MetricsRow { height: 1; }
    MetricsRow > Label { width: 28; }
    MetricsRow > Sparkline { width: 1fr; margin-right: 1; }
    """

    def __init__(self, deployment: str) -> None:
        super().__init__(id=f"metrics-{deployment}")
        self.deployment = deployment
        # A refresh can reach a row that is mounted but not composed yet (its mount was part of an earlier,
        # cancelled refresh): it is drawn once the row has its children.
        self._pending: MetricsHistory | None = None

    def on_mount(self) -> None:
        if self._pending is not None:
            self.show(self._pending)

    def compose(self) -> ComposeResult:
        yield Label(self.deployment, classes="metrics-label")
        yield Sparkline([], id="rps")
        yield Sparkline([], id="p99")
        yield Sparkline([], id="err")

    def show(self, history: MetricsHistory) -> None:
        labels = self.query(".metrics-label").results(Label)
        label = next(labels, None)
        if label is None:
            self._pending = history
            return
        self._pending = None
        point = history.latest(self.deployment)
        if point is None:
            label.update(f"{self.deployment[:10]:<10} waiting…")
            return
        label.update(
            f"{self.deployment[:10]:<10} {point.rps:5.1f}/s {point.p99:4.0f}ms {point.error_rate * 100:3.0f}%"
        )
        self.query_one("#rps", Sparkline).data = history.series(self.deployment, "rps")
        self.query_one("#p99", Sparkline).data = history.series(self.deployment, "p99")
        self.query_one("#err", Sparkline).data = history.series(self.deployment, "errors")


class OverviewPane(Pane):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy_uri", "Copy URI"),
        Binding("k", "toggle_keys", "Keys"),
        # Only while the endpoint has a running progressive rollout (check_action hides them otherwise).
        Binding("p", "steer('toggle')", "Pause/resume"),
        Binding("P", "steer('promote')", "Promote", key_display="P"),
        Binding("A", "steer('abort')", "Abort", key_display="A"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._events: list[EventView] = []
        self._shown_events = -1
        self._last_event: EventView | None = None
        self._endpoint: EndpointView | None = None
        self._deployments: list[DeploymentView] = []
        self._credentials: Credentials | None = None
        self._reveal = False

    def compose(self) -> ComposeResult:
        yield Static("", id="blocked")
        with VerticalScroll(id="overview-scroll"):
            yield Static("", id="ov-header")
            yield Static("", id="ov-traffic")
            yield Static("", id="ov-progressive")
            yield Label("Instances", classes="section")
            yield InstanceTable(id="ov-instances", cursor_type="row", zebra_stripes=False)
            yield Label("Metrics  (req/s · p99 · errors)", classes="section")
            yield Static("", id="ov-metrics-empty")
            yield Label("Events", classes="section")
            yield Static("", id="ov-events")

    def on_mount(self) -> None:
        table = self.query_one("#ov-instances", DataTable)
        for key, label in (
            ("dep", "deployment"),
            ("id", "instance"),
            ("state", "state"),
            ("rev", "rev"),
            ("restarts", "restarts"),
            ("age", "age"),
        ):
            table.add_column(label, key=key)

    def load(self, blocked: str | None) -> None:
        self._events = []
        self._shown_events = -1
        self._credentials = None
        self._reveal = False
        self.query_one("#ov-events", Static).update("")
        self.query_one("#ov-instances", DataTable).clear()
        for row in self.query(MetricsRow):
            row.remove()
        if blocked is None:
            self.show_snapshot(self.snapshot)
            detail = self.ctx.model.detail
            if (
                detail is not None
                and self.target is not None
                and detail.target.endpoint == self.target.endpoint
            ):
                self.show_detail(detail)
        else:
            self.query_one("#ov-header", Static).update("")
            self.query_one("#ov-traffic", Static).update("")

    def show_snapshot(self, snapshot: Snapshot) -> None:
        if not self.active or self.blocked_reason() is not None:
            return
        entry = self.entry()
        if entry is None:
            return  # not in a snapshot yet (just created), or gone: the navigator says which
        self._endpoint = entry.endpoint
        self._deployments = list(entry.deployments)
        self._show_header(entry.endpoint)
        self._show_traffic(entry.endpoint, self._deployments)
        self._show_instances(self._deployments)

    def show_detail(self, detail: EndpointDetail) -> None:
        """The focused endpoint's events and metrics; ignored unless they are this pane's target's."""
        target = self.target
        if not self.active or target is None or detail.target != Target(target.backend, target.endpoint):
            return
        self._show_progressive(detail)
        if len(detail.events) != self._shown_events or (
            detail.events and detail.events[-1] is not self._last_event
        ):
            self._show_events(detail.events)
        if detail.metered or detail.history.points:
            # In the order of the traffic and instance rows above, whatever order the gateway reports.
            names = [d.name for d in self._deployments]
            served = [n for n in names if n in detail.metered] + [n for n in detail.metered if n not in names]
            self.run_worker(
                self._show_metrics(served or names, detail.history), group="metrics", exclusive=True
            )
        elif detail.metrics_problem:
            anchor = self.query_one("#ov-metrics-empty", Static)
            anchor.display = True
            anchor.update(detail.metrics_problem)

    def _show_progressive(self, detail: EndpointDetail) -> None:
        """The endpoint's progressive rollout: steps, time left, each gate against its threshold, the outcome."""
        widget = self.query_one("#ov-progressive", Static)
        state = detail.progressive
        widget.display = state is not None
        if state is None:
            return
        plan = state.plan
        now = self.ctx.clock()
        text = Text()
        text.append("Progressive rollout ", style="bold")
        text.append(f"{plan.baseline} → {plan.candidate}  ")
        phase_style = {"Promoted": "bold green", "RolledBack": "bold red", "Aborted": "bold red"}
        text.append(str(state.phase), style=phase_style.get(str(state.phase), "bold yellow"))
        if state.phase.terminal:
            text.append(f"  {state.reason}\n", style="dim" if str(state.phase) == "Promoted" else "red")
        else:
            left = max(plan.step_seconds - (now - state.step_started_at), 0.0)
            text.append(f"  {left:.0f} s left in the step\n")
        if plan.mirror_first:
            current = state.mirroring and not state.phase.terminal
            text.append(f"mirror {plan.mirror_first}%", style="reverse" if current else "")
            text.append(" → ", style="dim")
        live = not state.mirroring and not state.phase.terminal
        for i, pct in enumerate(plan.steps):
            if i:
                text.append(" → ", style="dim")
            later = state.mirroring or i > state.step
            text.append(f"{pct}%", style="reverse" if live and i == state.step else ("dim" if later else ""))
        text.append("\n")
        if not state.phase.terminal:
            self._show_comparison(text, state, detail.history.last)
        glyph = {"pass": ("✔", "green"), "fail": ("✖", "red"), "wait": ("…", "yellow")}
        for result in state.verdict.results if state.verdict is not None else ():
            mark, style = glyph[result.outcome]
            text.append(f"{mark} ", style=style)
            text.append(f"{result.describe()}  ")
        if not state.phase.terminal:
            toggle = "resume" if _paused(state) else "pause"
            text.append(f"\np {toggle} · P promote · A abort", style="dim")
        widget.update(text)
        self.refresh_bindings()  # p/P/A exist only while a rollout runs

    @staticmethod
    def _show_comparison(text: Text, state: RolloutState, last: MetricsSnapshot | None) -> None:
        """Baseline beside candidate over the step's window (what the gates judge), or the mirror's diffs."""
        # Imported here: the first frame must not wait for the spec models the progressive modules load.
        from endpointctl.tui.model.progressive import mirror_stats, side_by_side

        mirror = mirror_stats(state, last)
        if mirror is not None:
            window = mirror.window
            diff = "-" if mirror.diff_pct is None else f"{mirror.diff_pct:.1f}%"
            text.append(f"{mirror.deployment[:10]:<10} mirror     compared {window.equal + window.differs}  ")
            text.append(f"differ {diff}", style="bold red" if window.differs else "")
            text.append(f"  failed {window.failed}\n")
            if mirror.latest is not None:
                example = mirror.latest
                text.append("latest diff ", style="dim")
                text.append(f"live {example.live_status} {_one_line(example.live_body, 24)} · ")
                text.append(f"mirror {example.mirror_status} {_one_line(example.mirror_body, 24)}\n")
            return
        for row in side_by_side(state, last):
            error = "-" if row.error_pct is None else f"{row.error_pct:.1f}%"
            text.append(
                f"{row.deployment[:10]:<10} {row.role:<9} ", style="bold" if row.role == "candidate" else ""
            )
            text.append(f"{row.per_second:>6.1f}/s  err {error:>5}  ")
            text.append(f"p50 {_ms(row.p50_ms)}  p99 {_ms(row.p99_ms)} ms\n")

    def _show_header(self, view: EndpointView) -> None:
        lines = Text()
        lines.append(f"{view.name}", style="bold")
        lines.append(
            f"  {state_label(view.provisioning_state)}  auth: {view.spec.auth_mode}  @{view.backend}\n"
        )
        lines.append("scoring: ", style="dim")
        lines.append(view.scoring_uri or "-")
        # One word, so a narrow pane moves the hint to the next line whole instead of splitting it.
        lines.append("  (c:copy)\n", style="dim")
        lines.append("keys:    ", style="dim")
        creds = self._credentials
        if creds is None:
            lines.append("•••••••• (k to reveal)" if view.spec.auth_mode == "key" else "token (k to fetch)")
        elif creds.auth_mode == "key":
            show = (lambda s: s or "-") if self._reveal else mask
            lines.append(f"primary {show(creds.primary_key)}  secondary {show(creds.secondary_key)}")
        else:
            lines.append(f"token {creds.access_token if self._reveal else mask(creds.access_token)}")
        self.query_one("#ov-header", Static).update(lines)

    def _show_traffic(self, view: EndpointView, deployments: list[DeploymentView]) -> None:
        text = Text()
        for dep in deployments:
            pct = view.traffic.get(dep.name, 0)
            text.append(f"{dep.name[:12]:<12} {bar(pct, 10)} {pct:>3}%")
            mirror = view.mirror_traffic.get(dep.name, 0)
            if mirror:
                text.append(f"  mirror {mirror}%", style="italic")
            text.append(f" {state_label(dep.provisioning_state)}")
            if dep.rollout is not None and dep.rollout.preparing:
                text.append("  preparing", style="yellow")
            elif dep.rollout is not None:
                r = dep.rollout
                text.append(
                    f"  rollout batch {r.batch}/{r.batches} {r.updated}/{r.desired} {r.phase}", style="yellow"
                )
            if dep.reason:
                text.append(f"  {dep.reason}", style="red")
            text.append("\n")
        self.query_one("#ov-traffic", Static).update(
            text if deployments else Text("no deployments yet", style="dim")
        )

    def _show_instances(self, deployments: list[DeploymentView]) -> None:
        table = self.query_one("#ov-instances", DataTable)
        now = self.ctx.clock()
        wanted: dict[str, tuple[str, ...]] = {}
        for dep in deployments:
            for inst in dep.instances:
                state = f"{INSTANCE_GLYPH.get(inst.state, '?')} {inst.state}"
                if inst.reason:
                    state += f" ({inst.reason})"
                wanted[f"{dep.name}/{inst.id}"] = (
                    dep.name,
                    inst.id,
                    state,
                    str(inst.revision),
                    str(inst.restarts),
                    age(inst.started_at, now),
                )
        existing = {str(key.value) for key in table.rows}
        # Update by key: the cursor and scroll position survive every refresh.
        for key in existing - set(wanted):
            table.remove_row(key)
        columns = ("dep", "id", "state", "rev", "restarts", "age")
        for key, cells in wanted.items():
            if key in existing:
                for column, value in zip(columns, cells, strict=True):
                    if table.get_cell(key, column) != value:
                        table.update_cell(key, column, value)
            else:
                table.add_row(*cells, key=key)
        # The table's height is `auto`: re-measure it when rows come and go.
        table.refresh(layout=True)

    def _show_events(self, events: list[EventView]) -> None:
        self._events = events
        self._shown_events = len(events)
        self._last_event = events[-1] if events else None
        text = Text()
        for event in reversed(self._events):
            text.append_text(event_line(event))
            text.append("\n")
        self.query_one("#ov-events", Static).update(text if self._events else Text("no events", style="dim"))

    async def _show_metrics(self, deployments: list[str], history: MetricsHistory) -> None:
        container = self.query_one("#overview-scroll", VerticalScroll)
        anchor = self.query_one("#ov-metrics-empty", Static)
        anchor.display = not deployments
        anchor.update("no metrics yet")
        rows = {row.deployment: row for row in self.query(MetricsRow)}
        previous: Widget = anchor
        for name in deployments:
            row = rows.get(name)
            if row is None:
                row = rows[name] = MetricsRow(name)
                await container.mount(row, after=previous)
            previous = row
        for name, row in rows.items():
            if name in deployments:
                row.show(history)
            else:
                await row.remove()

    # --- actions ------------------------------------------------------------------------------
    def action_copy_uri(self) -> None:
        if self._endpoint is not None and self._endpoint.scoring_uri:
            self.app.copy_to_clipboard(self._endpoint.scoring_uri)
            self.notify(f"copied {self._endpoint.scoring_uri}")

    def action_toggle_keys(self) -> None:
        if self._reveal:
            self._reveal = False
            if self._endpoint is not None:
                self._show_header(self._endpoint)
            return
        self._fetch_credentials()

    @work(exit_on_error=False, exclusive=True, group="credentials")
    async def _fetch_credentials(self) -> None:
        target = self.target
        if target is None or target.endpoint is None:
            return
        try:
            self._credentials = await self.service.get_credentials(target.endpoint, backend=target.backend)
        except Exception as exc:
            self.notify(f"credentials: {exc}", severity="error")
            return
        self._reveal = True
        if self._endpoint is not None:
            self._show_header(self._endpoint)

    def _running_rollout(self) -> RolloutState | None:
        detail, target = self.ctx.model.detail, self.target
        if detail is None or target is None or detail.target != Target(target.backend, target.endpoint):
            return None
        state = detail.progressive
        return state if state is not None and not state.phase.terminal else None

    def action_steer(self, command: str) -> None:
        """p pauses or resumes at once; P promotes and A aborts after a confirmation (the screen asks)."""
        state, target = self._running_rollout(), self.target
        if state is None or target is None:
            return
        if command == "toggle":
            command = "resume" if _paused(state) else "pause"
        self.screen.steer_rollout(Target(target.backend, target.endpoint), command)  # type: ignore[attr-defined]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_keys" and self.caps is not None and Capability.KEYS not in self.caps:
            return None
        if action == "steer":
            return self._running_rollout() is not None
        return True


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _one_line(body: str, width: int) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _paused(state: RolloutState) -> bool:
    from endpointctl.core.progressive.machine import Phase

    return state.phase is Phase.PAUSED
