"""The full-screen TUI. It talks only to the service façade (`endpointctl.core.service`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from endpointctl.core.home import Home
    from endpointctl.core.service import EndpointService
    from endpointctl.tui.app import EndpointctlApp


def make_app(home: Home | None = None) -> EndpointctlApp:
    """The TUI on `home` (or the discovered data directory), with the installed backends."""
    # Imported here so `endpointctl --help` does not pay for loading Textual.
    from endpointctl.tui.app import EndpointctlApp

    def open_service() -> EndpointService:
        # The façade (and through its entry points every backend's module) loads only when the app asks, after
        # its first frame is on screen.
        from endpointctl.core.service import EndpointService

        return EndpointService.open(home)

    return EndpointctlApp(open_service)


def run(home: Home | None = None) -> None:
    """Run the TUI until the user quits."""
    make_app(home).run()
