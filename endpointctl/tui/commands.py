"""Command palette (ctrl+p): go to endpoint, create from file, delete, regenerate keys, get credentials."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from endpointctl.core.capabilities import Capability
from endpointctl.tui.context import tui_context
from endpointctl.tui.target import Target

if TYPE_CHECKING:
    from endpointctl.tui.screens.main import MainScreen


class EndpointCommands(Provider):
    def _main(self) -> MainScreen | None:
        # Imported late: the main screen imports this module's app, not the other way round.
        from endpointctl.tui.screens.main import MainScreen

        for screen in reversed(self.app.screen_stack):
            if isinstance(screen, MainScreen):
                return screen
        return None

    def _commands(self) -> Iterator[tuple[str, Callable[[], object], str]]:
        main = self._main()
        if main is None:
            return
        for target in main.navigator.model.endpoint_names():
            yield (
                f"Go to endpoint {target.endpoint} @{target.backend}",
                partial(main.navigator.select_target, target),
                "select it in the navigator",
            )
        yield ("Create from file…", main.open_file_in_editor, "open a YAML file in the editor and apply it")
        for backend in tui_context(main).model.snapshot.backends:
            if backend.status.available and Capability.DISK_CLEANUP in backend.status.capabilities:
                yield (
                    f"Free disk on {backend.status.name}…",
                    partial(main.free_disk, backend.status.name),
                    "unused environments and old logs; shows what goes before it removes anything",
                )
        selected = main.target
        if selected is not None and selected.endpoint is not None:
            endpoint = Target(selected.backend, selected.endpoint)
            if selected.deployment:
                yield (
                    f"Delete deployment {selected.endpoint}/{selected.deployment}…",
                    partial(main.delete, selected),
                    "typed confirmation",
                )
            yield (
                f"Delete endpoint {selected.endpoint}…",
                partial(main.delete, endpoint),
                "typed confirmation",
            )
            yield (
                f"Regenerate primary key of {selected.endpoint}",
                partial(main.regenerate, endpoint, "primary"),
                "",
            )
            yield (
                f"Regenerate secondary key of {selected.endpoint}",
                partial(main.regenerate, endpoint, "secondary"),
                "",
            )
            detail = tui_context(main).model.detail
            state = detail.progressive if detail is not None and detail.target == endpoint else None
            if state is not None and not state.phase.terminal:
                paused = str(state.phase) == "Paused"
                for command, text in (
                    (
                        "resume" if paused else "pause",
                        "continue" if paused else "hold the step; gates still measured",
                    ),
                    ("promote", "the candidate takes the whole pool now (confirm)"),
                    ("abort", "the split from before the rollout, now (confirm)"),
                ):
                    yield (
                        f"{command.capitalize()} the rollout of {selected.endpoint}",
                        partial(main.steer_rollout, endpoint, command),
                        text,
                    )
            yield (
                f"Get credentials of {selected.endpoint}",
                partial(main.credentials, endpoint),
                "copy to the clipboard",
            )

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text or None)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text or None)
