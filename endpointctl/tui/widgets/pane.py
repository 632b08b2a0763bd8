"""What every tab pane shares: the current target, the backend's capabilities and a self-re-arming poll."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Static

from endpointctl.core.capabilities import Capabilities, Capability
from endpointctl.tui.context import TuiContext, tui_context
from endpointctl.tui.target import Target

if TYPE_CHECKING:
    from endpointctl.core.service import EndpointService


class Pane(Vertical):
    """A tab's content. Subclasses override `load()`; it runs when the pane is shown or retargeted."""

    REQUIRES: Capability | None = None
    NEEDS: str = "endpoint"  # "endpoint" or "deployment": what the navigator must have selected

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.target: Target | None = None
        self.caps: Capabilities | None = None
        self.active = False
        self._poll_timer: Timer | None = None

    @property
    def ctx(self) -> TuiContext:
        return tui_context(self)

    @property
    def service(self) -> EndpointService:
        return self.ctx.service

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
        elif not active:
            self.stop_polling()

    def service_ready(self) -> None:
        if self.active:
            self._reload()

    def _reload(self) -> None:
        self.stop_polling()
        if not self.ctx.ready:
            return  # MainScreen calls service_ready() once the façade is open
        banner = self.query("#blocked").first(Static) if self.query("#blocked") else None
        reason = self.blocked_reason()
        if banner is not None:
            banner.update(f"⚠ {reason}" if reason else "")
            banner.display = reason is not None
        self.load(reason)

    def load(self, blocked: str | None) -> None:
        """Start this pane's work for `self.target` (or show `blocked`)."""

    # --- polling: the next poll is armed only after the previous finished, so polls never pile up ---
    def poll_later(self, delay: float | None = None) -> None:
        self.stop_polling()
        if self.active and self.is_attached:
            self._poll_timer = self.set_timer(delay if delay is not None else self.ctx.poll_s, self.poll)

    def stop_polling(self) -> None:
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None

    def poll(self) -> None:
        """Refresh; implementations run a worker and call `poll_later()` when it ends."""
