"""Traffic split: a slider per deployment that rebalances the others, a mirror control, preview and apply.

The rules (sum 100 or all 0, mirror ≤ 50% to one deployment without live traffic) are checked by the
façade's `preview_traffic` on every change, so errors show inline before anything is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from endpointctl.core.capabilities import Capability
from endpointctl.core.traffic import MAX_MIRROR_PERCENT, rebalance
from endpointctl.tui.screens.confirm import ConfirmScreen
from endpointctl.tui.widgets.pane import Pane
from endpointctl.tui.widgets.traffic_slider import TrafficSlider

if TYPE_CHECKING:
    from endpointctl.core.views import EndpointView
    from endpointctl.tui.model.snapshot import Snapshot


def describe_changes(
    before: dict[str, int], after: dict[str, int], mirror_before: dict[str, int], mirror_after: dict[str, int]
) -> list[str]:
    lines = [
        f"{name}: {before.get(name, 0)}% → {pct}%"
        for name, pct in after.items()
        if before.get(name, 0) != pct
    ]
    for name in sorted(set(mirror_before) | set(mirror_after)):
        old, new = mirror_before.get(name, 0), mirror_after.get(name, 0)
        if old != new:
            lines.append(f"mirror {name}: {old}% → {new}%")
    return lines


class TrafficPane(Pane):
    REQUIRES = Capability.TRAFFIC
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "apply", "Apply", tooltip="Review the change, then apply it"),
        Binding(
            "m", "mirror_target", "Mirror to", tooltip="Choose the deployment that gets mirrored traffic"
        ),
        Binding("z", "all_zero", "All 0", tooltip="Every weight to 0 (the endpoint serves nothing)"),
        Binding("r", "reset", "Reset", tooltip="Back to the live split"),
        Binding("down,j", "focus_next_slider", "Next", show=False),
        Binding("up,k", "focus_previous_slider", "Prev", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.endpoint: EndpointView | None = None
        self.deployments: list[str] = []
        self.weights: dict[str, int] = {}
        self.mirror_target: str | None = None
        self.mirror_percent = 0
        self.problems: list[str] = []
        self._waiting = False  # the target is not in a snapshot yet: set the sliders when it is

    def compose(self) -> ComposeResult:
        yield Static("", id="blocked")
        yield Static("", id="traffic-title")
        yield VerticalScroll(id="sliders")
        yield Static("", id="mirror-hint")
        yield Static("", id="traffic-preview")

    def load(self, blocked: str | None) -> None:
        if blocked is None:
            self._fetch()
        else:
            self.endpoint = None
            self.query_one("#sliders", VerticalScroll).remove_children()
            self.query_one("#traffic-preview", Static).update("")
            self.query_one("#traffic-title", Static).update("")
            self.query_one("#mirror-hint", Static).update("")

    def _fetch(self) -> None:
        """The live split as of the latest snapshot; sliders are set once per target, never under the operator's
        hands (a later snapshot does not move them: `r` resets to the live split)."""
        entry = self.entry()
        self._waiting = entry is None
        if entry is not None:
            self.run_worker(
                self._show(entry.endpoint, [d.name for d in entry.deployments]),
                group="traffic",
                exclusive=True,
            )

    def show_snapshot(self, snapshot: Snapshot) -> None:
        if self.active and self._waiting and self.blocked_reason() is None:
            self._fetch()

    async def _show(self, endpoint: EndpointView, deployments: list[str]) -> None:
        self.endpoint = endpoint
        self.deployments = deployments
        self.weights = {name: endpoint.traffic.get(name, 0) for name in deployments}
        mirror = {k: v for k, v in endpoint.mirror_traffic.items() if v}
        self.mirror_target = next(iter(mirror), None)
        self.mirror_percent = mirror.get(self.mirror_target, 0) if self.mirror_target else 0
        box = self.query_one("#sliders", VerticalScroll)
        await box.remove_children()
        sliders = [TrafficSlider(name, self.weights[name], id=f"slider-{name}") for name in deployments]
        mirror_reason = self.caps.why_not(Capability.MIRROR_TRAFFIC) if self.caps is not None else None
        mirror_slider = TrafficSlider(
            "mirror",
            self.mirror_percent,
            maximum=MAX_MIRROR_PERCENT,
            label=self._mirror_label(),
            id="slider-mirror",
        )
        mirror_slider.disabled = mirror_reason is not None
        await box.mount_all([*sliders, mirror_slider])
        self.query_one("#mirror-hint", Static).update(
            Text(f"mirror: {mirror_reason}", style="dim")
            if mirror_reason
            else Text("m: choose the mirror target", style="dim")
        )
        self.query_one("#traffic-title", Static).update(
            Text.assemble(
                (f" {endpoint.name} ", "bold reverse"),
                ("  ←/→ ±1 · shift+←/→ ±5 · digits+enter · a apply", "dim"),
            )
        )
        if sliders:
            sliders[0].focus()
        self._preview()

    def _mirror_label(self) -> str:
        return f"mirror→{self.mirror_target}" if self.mirror_target else "mirror→none"

    def on_traffic_slider_changed(self, event: TrafficSlider.Changed) -> None:
        event.stop()
        if event.slider.id == "slider-mirror":
            if self.mirror_target is None:
                self.action_mirror_target()
            self.mirror_percent = event.value
        else:
            self.weights = rebalance(self.weights, event.slider.deployment, event.value)
            for slider in self.query(TrafficSlider):
                if slider.deployment in self.weights and slider is not event.slider:
                    slider.set_value(self.weights[slider.deployment])
        self._preview()

    def proposed_mirror(self) -> dict[str, int]:
        return {self.mirror_target: self.mirror_percent} if self.mirror_target and self.mirror_percent else {}

    def _preview(self) -> None:
        if self.endpoint is None:
            return
        current = dict(self.endpoint.traffic)
        mirror = self.proposed_mirror()
        # Clearing a mirror must be explicit: a zero for the old target.
        mirror_change = {**dict.fromkeys(self.endpoint.mirror_traffic, 0), **mirror}
        self.problems = []
        try:
            self.service.preview_traffic(self.endpoint, self.deployments, self.weights, mirror_change)
        except Exception as exc:
            self.problems = str(exc).splitlines()
        changes = describe_changes(current, self.weights, dict(self.endpoint.mirror_traffic), mirror)
        text = Text()
        total = sum(self.weights.values())
        text.append(f"total {total}%   ", style="bold")
        text.append("changes: " + ("; ".join(changes) if changes else "none"))
        for problem in self.problems:
            text.append(f"\n✖ {problem}", style="bold red")
        self.query_one("#traffic-preview", Static).update(text)

    # --- actions ------------------------------------------------------------------------------
    def action_mirror_target(self) -> None:
        """Cycle the mirror target over deployments without live traffic (and "none")."""
        candidates: list[str | None] = [None, *[n for n in self.deployments if self.weights.get(n, 0) == 0]]
        position = candidates.index(self.mirror_target) if self.mirror_target in candidates else 0
        self.mirror_target = candidates[(position + 1) % len(candidates)]
        slider = self.query("#slider-mirror")
        if slider:
            mirror = slider.first(TrafficSlider)
            mirror.label = self._mirror_label()
            mirror.refresh()
        self._preview()

    def action_all_zero(self) -> None:
        self.weights = dict.fromkeys(self.weights, 0)
        for slider in self.query(TrafficSlider):
            if slider.deployment in self.weights:
                slider.set_value(0)
        self._preview()

    def action_reset(self) -> None:
        self._reload()

    def action_focus_next_slider(self) -> None:
        self.screen.focus_next(TrafficSlider)

    def action_focus_previous_slider(self) -> None:
        self.screen.focus_previous(TrafficSlider)

    def action_apply(self) -> None:
        if self.endpoint is None:
            return
        if self.problems:
            self.notify("fix the traffic errors first", severity="error")
            return
        mirror = self.proposed_mirror()
        changes = describe_changes(
            dict(self.endpoint.traffic), self.weights, dict(self.endpoint.mirror_traffic), mirror
        )
        if not changes:
            self.notify("nothing to change")
            return
        endpoint = self.endpoint.name
        if not any(self.weights.values()):
            changes.append("⚠ every weight is 0: the endpoint will refuse every request until one is raised")

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._apply(
                    endpoint,
                    dict(self.weights),
                    {**dict.fromkeys(self.endpoint.mirror_traffic if self.endpoint else {}, 0), **mirror},
                )

        self.app.push_screen(ConfirmScreen(f"Apply traffic to {endpoint}?", "\n".join(changes)), confirmed)

    @work(exit_on_error=False, exclusive=True, group="traffic-apply")
    async def _apply(self, endpoint: str, weights: dict[str, int], mirror: dict[str, int]) -> None:
        target = self.target
        if target is None:
            return
        try:
            view = await self.service.set_traffic(
                endpoint,
                traffic=weights,
                mirror=mirror if any(mirror.values()) or mirror else None,
                backend=target.backend,
            )
        except Exception as exc:
            self.notify(f"traffic: {exc}", severity="error", timeout=8)
            return
        self.notify(f"traffic applied to {endpoint}")
        await self._show(view, self.deployments)
