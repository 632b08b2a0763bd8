"""What every tab pane shares: the current target, the backend's capabilities and the state model's latest data.

Panes fetch nothing on a schedule: the main screen hands them every snapshot (`show_snapshot`) and the focused
endpoint's detail; a pane renders what belongs to its target and ignores the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import Vertical
from textual.widgets import Static

from endpointctl.core.capabilities import Capabilities, Capability
from endpointctl.tui.context import TuiContext, tui_context
from endpointctl.tui.target import Target

if TYPE_CHECKING:
    from endpointctl.core.service import EndpointService
    from endpointctl.tui.model.snapshot import EndpointEntry, Snapshot


class Pane(Vertical):
    """A tab's content. Subclasses override `load()`; it runs when the pane is shown or retargeted."""

    REQUIRES: Capability | None = None
    NEEDS: str = "endpoint"  # "endpoint" or "deployment": what the navigator must have selected

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.target: Target | None = None
        self.caps: Capabilities | None = None
        self.active = False
        self._shown_reason: str | None = None

    @property
    def ctx(self) -> TuiContext:
        return tui_context(self)

    @property
    def service(self) -> EndpointService:
        return self.ctx.service

    @property
    def snapshot(self) -> Snapshot:
        return self.ctx.model.snapshot

    def entry(self) -> EndpointEntry | None:
        """The target's endpoint and deployments as of the latest snapshot."""
        if self.target is None or self.target.endpoint is None:
            return None
        return self.snapshot.find(self.target)

    def blocked_reason(self) -> str | None:
        """Why this pane cannot work for the current target, or None."""
        if self.target is None or self.target.endpoint is None:
            return f"select an {self.NEEDS} in the navigator"
        if self.NEEDS == "deployment" and self.target.deployment is None and not self.picks_deployment():
            return "select a deployment in the navigator"
        if self.REQUIRES is not None and self.caps is not None:
            reason = self.caps.why_not(self.REQUIRES)
            if reason is not None:
                return f"{self.target.backend}: {reason}"
        return self._missing()

    def _missing(self) -> str | None:
        """Why the target is not in the latest snapshot of its backend (deleted behind the TUI's back)."""
        target, snapshot = self.target, self.snapshot
        if target is None or target.endpoint is None:
            return None
        backend = next((b for b in snapshot.backends if b.status.name == target.backend), None)
        if backend is None or not backend.status.available or backend.error:
            return None  # no snapshot yet, or the backend is unreachable: the navigator says so
        entry = snapshot.find(target)
        if entry is None:
            return f"endpoint {target.endpoint} does not exist on {target.backend} (deleted?)"
        if target.deployment is not None and entry.deployment(target.deployment) is None:
            return f"deployment {target.endpoint}/{target.deployment} does not exist (deleted?)"
        return None

    def picks_deployment(self) -> bool:
        """Panes that can choose a deployment themselves when an endpoint is selected."""
        return False

    def retarget(self, target: Target | None, caps: Capabilities | None) -> None:
        changed = target != self.target
        self.target, self.caps = target, caps
        if changed and self.active:
            self._reload()

    def set_active(self, active: bool) -> None:
        was, self.active = self.active, active
        if active and not was:
            self._reload()

    def service_ready(self) -> None:
        if self.active:
            self._reload()

    def _reload(self) -> None:
        if not self.ctx.ready:
            return  # MainScreen calls service_ready() once the façade is open
        banner = self.query("#blocked").first(Static) if self.query("#blocked") else None
        reason = self._shown_reason = self.blocked_reason()
        if banner is not None:
            banner.update(f"⚠ {reason}" if reason else "")
            banner.display = reason is not None
        self.load(reason)

    def load(self, blocked: str | None) -> None:
        """Start this pane's work for `self.target` (or show `blocked`)."""

    def snapshot_arrived(self, snapshot: Snapshot) -> None:
        """Called for every snapshot: reload when the target appeared or went away, else let the pane render."""
        if self.active and self.ctx.ready and self.blocked_reason() != self._shown_reason:
            self._reload()
        elif self._shown_reason is None:
            self.show_snapshot(snapshot)

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """A new snapshot (every tick, active or not): render what changed for `self.target`."""
