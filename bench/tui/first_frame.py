"""Child process for the cold-start benchmark: run the TUI headless and write the wall time of its first frame."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from endpointctl.core.home import Home
from endpointctl.core.service import EndpointService
from endpointctl.tui.app import EndpointctlApp


def main() -> None:
    out, home = Path(sys.argv[1]), Home(Path(sys.argv[2])).ensure()
    app = EndpointctlApp(lambda: EndpointService.open(home, {}))

    def first_frame() -> None:
        out.write_text(repr(time.time()))
        app.exit()

    app.call_after_refresh(lambda: app.screen.call_after_refresh(first_frame))
    app.run(headless=True, size=(80, 24))


if __name__ == "__main__":
    main()
