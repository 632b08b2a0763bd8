"""`python -m endpointctl.tui`: the TUI on the data directory named by ENDPOINTCTL_HOME (or the default)."""

from endpointctl.tui import run

run()
