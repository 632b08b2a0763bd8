"""The full-screen TUI. It talks only to the service façade (`endpointctl.core.service`)."""

from __future__ import annotations

from endpointctl.core.home import Home


def run(home: Home | None = None) -> None:
    """Open the service on `home` (or the discovered data directory) and run the TUI until the user quits."""
    # Imported here so `endpointctl --help` does not pay for loading Textual.
    from endpointctl.core.service import EndpointService
    from endpointctl.tui.app import EndpointctlApp

    EndpointctlApp(lambda: EndpointService.open(home)).run()
