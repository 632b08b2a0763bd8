"""Operations reachable from the palette and `:`: delete (typed confirmation), keys, credentials, free disk."""

from __future__ import annotations

from typing import Literal

from textual import work
from textual.screen import Screen

from endpointctl.tui.context import tui_context
from endpointctl.tui.screens.confirm import ConfirmScreen
from endpointctl.tui.target import Target

# What the free-disk confirmation lists before "… and N more" (it must fit 80×24).
MAX_LISTED = 8


class EndpointActions(Screen[None]):
    """Mixed into the main screen; every call runs in a worker and reports through notifications."""

    def delete(self, target: Target) -> None:
        if target.endpoint is None:
            return
        if target.deployment is not None:
            # Refused before asking to type the name: the backend would refuse it after (Azure's rule).
            entry = tui_context(self).model.snapshot.find(target)
            share = entry.endpoint.traffic.get(target.deployment, 0) if entry is not None else 0
            mirrored = entry.endpoint.mirror_traffic.get(target.deployment, 0) if entry is not None else 0
            if share or mirrored:
                what = f"{share}% of the traffic" if share else f"{mirrored}% mirrored traffic"
                self.notify(
                    f"{target.endpoint}/{target.deployment} gets {what}: move it to another deployment "
                    "(Traffic, t) before deleting it",
                    severity="error",
                    timeout=8,
                )
                return
        word = target.deployment or target.endpoint
        what = (
            f"deployment {target.endpoint}/{target.deployment}"
            if target.deployment
            else f"endpoint {target.endpoint}"
        )
        body = (
            f"This deletes {what} on {target.backend}"
            + ("" if target.deployment else " and all its deployments")
            + "."
        )

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._delete(target)

        self.app.push_screen(ConfirmScreen(f"Delete {what}?", body, typed=word), confirmed)

    @work(exit_on_error=False, group="mutations")
    async def _delete(self, target: Target) -> None:
        svc = tui_context(self).service
        assert target.endpoint is not None
        try:
            if target.deployment:
                await svc.delete_deployment(target.endpoint, target.deployment, backend=target.backend)
            else:
                await svc.delete_endpoint(target.endpoint, backend=target.backend)
        except Exception as exc:
            self.notify(f"delete: {exc}", severity="error", timeout=8)
            return
        self.notify(f"deleted {target.describe()}")

    def regenerate(self, target: Target, key_type: Literal["primary", "secondary"]) -> None:
        if target.endpoint is None:
            return

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._regenerate(target, key_type)

        self.app.push_screen(
            ConfirmScreen(
                f"Regenerate the {key_type} key of {target.endpoint}?", "Clients using it will get 401."
            ),
            confirmed,
        )

    @work(exit_on_error=False, group="mutations")
    async def _regenerate(self, target: Target, key_type: Literal["primary", "secondary"]) -> None:
        assert target.endpoint is not None
        try:
            await tui_context(self).service.regenerate_keys(target.endpoint, key_type, backend=target.backend)
        except Exception as exc:
            self.notify(f"regenerate keys: {exc}", severity="error", timeout=8)
            return
        self.notify(f"{key_type} key of {target.endpoint} regenerated")

    @work(exit_on_error=False, group="credentials")
    async def credentials(self, target: Target) -> None:
        if target.endpoint is None:
            return
        try:
            creds = await tui_context(self).service.get_credentials(target.endpoint, backend=target.backend)
            value = creds.bearer()
        except Exception as exc:
            self.notify(f"credentials: {exc}", severity="error", timeout=8)
            return
        self.app.copy_to_clipboard(value)
        self.notify(f"{creds.auth_mode} credential of {target.endpoint} copied to the clipboard")

    @work(exit_on_error=False, group="mutations")
    async def free_disk(self, backend: str) -> None:
        """What `endpointctl gc` would free is shown first; nothing is removed before it is confirmed."""
        # Imported here, not at import: the first frame does without the views.
        from endpointctl.core.views import human_bytes

        svc = tui_context(self).service
        try:
            plan = await svc.collect_garbage(dry_run=True, backend=backend)
        except Exception as exc:
            self.notify(f"free disk: {exc}", severity="error", timeout=8)
            return
        if not plan.freed:
            self.notify(plan.summary(), timeout=8)
            return
        lines = [
            f"{item.kind} {item.name} ({human_bytes(item.size_bytes)}): {item.why}" for item in plan.freed
        ]
        shown = lines[:MAX_LISTED] + (
            [f"… and {len(lines) - MAX_LISTED} more"] if len(lines) > MAX_LISTED else []
        )
        confirmed = await self.app.push_screen_wait(
            ConfirmScreen(f"Free disk on {backend}?", "\n".join([plan.summary(), "", *shown]))
        )
        if not confirmed:
            return
        try:
            done = await svc.collect_garbage(backend=backend)
        except Exception as exc:
            self.notify(f"free disk: {exc}", severity="error", timeout=8)
            return
        self.notify(done.summary(), timeout=8)

    def steer_rollout(self, target: Target, command: str) -> None:
        """pause / resume at once; promote and abort after a confirmation (they move traffic)."""
        if target.endpoint is None:
            return
        if command in ("pause", "resume"):
            self._steer(target, command)
            return
        body = (
            "The candidate takes the whole pool now, skipping the remaining steps and their gates."
            if command == "promote"
            else "The split the endpoint had before the rollout comes back now."
        )

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._steer(target, command)

        self.app.push_screen(
            ConfirmScreen(f"{command.capitalize()} the rollout of {target.endpoint}?", body), confirmed
        )

    @work(exit_on_error=False, group="mutations")
    async def _steer(self, target: Target, command: str) -> None:
        assert target.endpoint is not None
        ctx = tui_context(self)
        try:
            state = await ctx.service.steer_progressive(target.endpoint, command, backend=target.backend)
        except Exception as exc:
            self.notify(f"rollout {command}: {exc}", severity="error", timeout=8)
            return
        detail = ctx.model.detail
        if detail is not None and detail.target == target:
            detail.progressive = state
        ctx.model.wake()
        self.notify(f"rollout of {target.endpoint}: {state.phase}")
